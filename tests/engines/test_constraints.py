"""Constrained decoding and the thinking budget on the tiny model, through the real engine.

The tiny model has random weights, so whatever it writes under a grammar is the grammar's doing: valid
JSON, schema-valid arguments and a well-formed tool call are the proof that the mask is applied.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace

import jsonschema
import pytest

from openmaas.domain.chat import (
    ChatRequest,
    Message,
    Reasoning,
    ReasoningDelta,
    ResponseFormat,
    Sampling,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolChoice,
    ToolSpec,
)
from openmaas.engines.transformers import TransformersChatEngine
from openmaas.grammars import grammar_for
from openmaas.parsers import parsed, pipeline_for
from tests.engines.conftest import EngineMaker
from tests.engines.helpers import TINY_ID

WEATHER = ToolSpec(
    "get_weather",
    "The weather in a city",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 12},
            "days": {"type": "integer", "minimum": 1},
        },
        "required": ["city", "days"],
        "additionalProperties": False,
    },
)
TIME = ToolSpec("get_time", "", {"type": "object", "properties": {"zone": {"enum": ["UTC", "CET"]}}})


def request(**fields: object) -> ChatRequest:
    base = ChatRequest(
        model=TINY_ID,
        messages=(Message(role="user", content=(TextPart("Weather in Paris?"),)),),
        sampling=Sampling(temperature=0.8, seed=3, max_tokens=120),
    )
    return replace(base, **fields)  # type: ignore[arg-type]


async def run(engine: TransformersChatEngine, req: ChatRequest) -> tuple[str, str, list[ToolCallDelta], str]:
    req = replace(req, grammar=grammar_for(engine.spec, req))
    stream = engine.stream(req)
    pipeline = pipeline_for(engine.spec, req)
    events = parsed(stream, pipeline) if pipeline is not None else stream
    text, reasoning, calls, finish = "", "", [], ""
    async for event in events:
        if isinstance(event, TextDelta):
            text += event.text
        elif isinstance(event, ReasoningDelta):
            reasoning += event.text
        elif isinstance(event, ToolCallDelta):
            calls.append(event)
        elif hasattr(event, "reason"):
            finish = event.reason
    return text, reasoning, calls, finish


async def started(make_tiny_engine: EngineMaker, **spec: object) -> TransformersChatEngine:
    engine = make_tiny_engine(max_batch_size=2)
    engine.spec = engine.spec.model_copy(update=spec)
    await engine.start()
    return engine


@pytest.fixture(scope="module")
async def hermes_engine(make_tiny_engine: EngineMaker) -> AsyncIterator[TransformersChatEngine]:
    engine = await started(make_tiny_engine, tool_parser="hermes")
    yield engine
    await engine.close()


@pytest.fixture(scope="module")
async def thinking_engine(make_tiny_engine: EngineMaker) -> AsyncIterator[TransformersChatEngine]:
    """A model whose output starts inside its thinking (as DeepSeek-R1's template arranges)."""
    engine = await started(make_tiny_engine, reasoning_parser="think-open")
    yield engine
    await engine.close()


async def test_json_schema_output_is_schema_valid(hermes_engine: TransformersChatEngine) -> None:
    schema = WEATHER.parameters
    for seed in (1, 2, 3):
        req = request(
            response_format=ResponseFormat(kind="json_schema", schema=schema),
            sampling=Sampling(temperature=1.0, seed=seed, max_tokens=200),
        )
        text, _, _, finish = await run(hermes_engine, req)
        assert finish == "stop", text
        jsonschema.validate(json.loads(text), schema)


async def test_json_object_output(hermes_engine: TransformersChatEngine) -> None:
    text, _, _, finish = await run(hermes_engine, request(response_format=ResponseFormat(kind="json_object")))
    if finish == "stop":
        assert isinstance(json.loads(text), dict)
    else:  # a random model may write a long object; what it wrote is still an object's prefix
        assert text.startswith("{")


async def test_required_tool_call_is_well_formed(hermes_engine: TransformersChatEngine) -> None:
    choice = ToolChoice(mode="required", parallel=False)
    req = request(tools=(WEATHER, TIME), tool_choice=choice, sampling=Sampling(seed=5, max_tokens=200))
    _, _, calls, finish = await run(hermes_engine, req)
    assert finish == "tool_calls" and len(calls) == 1
    for call in calls:
        spec = {"get_weather": WEATHER, "get_time": TIME}[call.name or ""]
        jsonschema.validate(json.loads(call.arguments), spec.parameters)


async def test_named_tool_call(hermes_engine: TransformersChatEngine) -> None:
    req = request(tools=(WEATHER, TIME), tool_choice=ToolChoice(mode="required", name="get_time"))
    _, _, calls, finish = await run(hermes_engine, req)
    assert finish == "tool_calls"
    assert [c.name for c in calls] == ["get_time"]
    assert json.loads(calls[0].arguments).get("zone", "UTC") in ("UTC", "CET")


async def test_thinking_budget_closes_the_thinking(thinking_engine: TransformersChatEngine) -> None:
    # Without a budget the random model thinks until max_tokens; with one, the engine closes the
    # thinking after the budget and the answer follows.
    unlimited = request(sampling=Sampling(temperature=0, max_tokens=40))
    text, reasoning, _, _ = await run(thinking_engine, unlimited)
    assert reasoning and not text
    budgeted = replace(unlimited, reasoning=Reasoning(enabled=True, budget_tokens=10))
    text, reasoning, _, finish = await run(thinking_engine, budgeted)
    assert reasoning and text and finish == "length"
    assert len(reasoning) < len(run_reasoning := reasoning + text)
    assert run_reasoning


def test_uncompilable_schema_is_a_400(hermes_engine: TransformersChatEngine) -> None:
    from openmaas.domain.errors import InvalidRequest

    bad = request(response_format=ResponseFormat(kind="json_schema", schema={"$ref": "#/definitions/nope"}))
    with pytest.raises(InvalidRequest) as error:
        grammar_for(hermes_engine.spec, bad)
    assert error.value.param == "response_format"
