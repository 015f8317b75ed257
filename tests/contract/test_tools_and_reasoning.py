"""Tool calling, reasoning and structured output through the real OpenAI and Anthropic SDKs, against a
real `openmaas serve` process.

- `test/tiny` is the tiny random-weight model on the real transformers engine: with random weights,
  valid JSON and well-formed, schema-valid tool calls can only come from constrained decoding.
- `test/tiny-thinker` is the same model declared as one whose output starts inside its thinking, to
  show the thinking budget closing it.
- `test/parsed` is a scripted model that writes raw `<think>` and `<tool_call>` text, parsed by the
  server exactly as a real model's output is.
- `test/tool-user` is a scripted model that calls a tool, then answers from the tool's result.
"""

from __future__ import annotations

import json

import anthropic
import httpx
import jsonschema
import openai
import pytest
from openai import OpenAI
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from tests.contract.conftest import new_token
from tests.servers import ServerProcess


@pytest.fixture(scope="module")
def token(tiny_server: ServerProcess) -> str:
    return new_token(tiny_server, "tool-tester")


@pytest.fixture(scope="module")
def client(tiny_server: ServerProcess, token: str) -> OpenAI:
    return OpenAI(base_url=f"{tiny_server.base_url}/v1", api_key=token, max_retries=0)


@pytest.fixture(scope="module")
def claude(tiny_server: ServerProcess, token: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=tiny_server.base_url, api_key=token, max_retries=0)


# The city is ASCII: a random model writes stray bytes, and xgrammar (the OpenVINO engine's grammar
# library) lets malformed UTF-8 into a length-bounded string; a pattern bounds it on every engine.
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 10, "pattern": "^[A-Za-z ]{0,10}$"},
        "days": {"type": "integer", "minimum": 1, "maximum": 14},
    },
    "required": ["city", "days"],
    "additionalProperties": False,
}
TOOLS: list[ChatCompletionToolParam] = [
    {
        "type": "function",
        "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER_SCHEMA},
    },
    {
        "type": "function",
        "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
    },
]
ASK: list[ChatCompletionMessageParam] = [{"role": "user", "content": "What is the weather in Paris?"}]


# ---- constrained decoding on the real engine ---------------------------------------------------


def test_named_tool_call(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model="test/tiny",
        messages=ASK,
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_tokens=200,
        seed=1,
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert len(calls) == 1 and calls[0].type == "function" and calls[0].function.name == "get_weather"
    jsonschema.validate(json.loads(calls[0].function.arguments), WEATHER_SCHEMA)
    assert calls[0].id.startswith("call_")


def test_required_tool_call_streamed(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="test/tiny",
        messages=ASK,
        tools=TOOLS,
        tool_choice="required",
        parallel_tool_calls=False,
        max_tokens=200,
        stream=True,
        seed=2,
    )
    names: dict[int, str] = {}
    arguments: dict[int, str] = {}
    finish = None
    for chunk in stream:
        delta = chunk.choices[0].delta
        for call in delta.tool_calls or []:
            if call.function and call.function.name:
                names[call.index] = call.function.name
            arguments[call.index] = arguments.get(call.index, "") + (
                (call.function and call.function.arguments) or ""
            )
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls" and list(names) == [0]
    if names[0] == "get_weather":
        jsonschema.validate(json.loads(arguments[0]), WEATHER_SCHEMA)
    else:
        assert json.loads(arguments[0]) == {} or isinstance(json.loads(arguments[0]), dict)


def test_json_schema_response_format(client: OpenAI) -> None:
    for stream in (False, True):
        kwargs = {
            "model": "test/tiny",
            "messages": ASK,
            "max_tokens": 200,
            "temperature": 1.0,
            "seed": 4,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "weather", "schema": WEATHER_SCHEMA},
            },
        }
        if stream:
            text = "".join(
                c.choices[0].delta.content or ""
                for c in client.chat.completions.create(stream=True, **kwargs)  # type: ignore[call-overload]
            )
        else:
            text = client.chat.completions.create(**kwargs).choices[0].message.content or ""  # type: ignore[call-overload]
        jsonschema.validate(json.loads(text), WEATHER_SCHEMA)


def test_json_object_response_format(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model="test/tiny", messages=ASK, max_tokens=300, response_format={"type": "json_object"}, seed=1
    )
    text = completion.choices[0].message.content or ""
    assert text.startswith("{")
    if completion.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(text), dict)


def test_uncompilable_schema_is_a_400_and_not_counted(client: OpenAI) -> None:
    before = client.chat.completions.with_raw_response.create(model="test/tiny", messages=ASK, max_tokens=1)
    left = int(before.headers["x-ratelimit-remaining-requests"])
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(
            model="test/tiny",
            messages=ASK,
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "x", "schema": {"$ref": "#/nowhere"}},
            },
        )
    assert "response_format" in str(bad.value)
    after = client.chat.completions.with_raw_response.create(model="test/tiny", messages=ASK, max_tokens=1)
    assert int(after.headers["x-ratelimit-remaining-requests"]) == left - 1


def test_anthropic_forced_tool_use_streamed(claude: anthropic.Anthropic) -> None:
    tools: list[anthropic.types.ToolParam] = [
        {"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA}
    ]
    with claude.messages.stream(
        model="test/tiny",
        max_tokens=200,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=tools,
        tool_choice={"type": "tool", "name": "get_weather"},
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert "input_json" in kinds
    assert final.stop_reason == "tool_use"
    block = final.content[-1]
    assert block.type == "tool_use" and block.name == "get_weather"
    jsonschema.validate(block.input, WEATHER_SCHEMA)


# ---- thinking -----------------------------------------------------------------------------------


def test_thinking_budget_in_both_dialects(client: OpenAI, claude: anthropic.Anthropic) -> None:
    completion = client.chat.completions.create(
        model="test/tiny-thinker",
        messages=ASK,
        max_tokens=40,
        temperature=0,
        extra_body={"enable_thinking": True, "thinking_budget": 8},
    )
    message = completion.choices[0].message
    reasoning = getattr(message, "reasoning_content", None)
    assert reasoning and message.content
    message_b = claude.messages.create(
        model="test/tiny-thinker",
        max_tokens=40,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        extra_body={"thinking": {"type": "enabled", "budget_tokens": 8}, "temperature": 0},
    )
    assert [b.type for b in message_b.content] == ["thinking", "text"]
    assert message_b.content[0].thinking == reasoning  # type: ignore[union-attr]


# ---- the parsers on a real server ------------------------------------------------------------------


def test_parsed_thinking_and_tool_call_openai(client: OpenAI) -> None:
    completion = client.chat.completions.create(model="test/parsed", messages=ASK, tools=TOOLS)
    message = completion.choices[0].message
    assert getattr(message, "reasoning_content", None) == "The user wants the weather. "
    assert message.content == "Checking. "
    assert completion.choices[0].finish_reason == "tool_calls"
    (call,) = message.tool_calls or []
    assert call.type == "function"
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {
        "city": "Paris",
        "days": 2,
    }
    chunks = list(client.chat.completions.create(model="test/parsed", messages=ASK, tools=TOOLS, stream=True))
    reasoning = "".join(
        getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices
    )
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert (reasoning, content) == ("The user wants the weather. ", "Checking. ")
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    # Without tools offered, tool-call text is not parsed: the client sees what the model wrote.
    plain = client.chat.completions.create(model="test/parsed", messages=ASK).choices[0].message
    assert "<tool_call>" in (plain.content or "") and not plain.tool_calls


def test_parsed_thinking_and_tool_call_anthropic(tiny_server: ServerProcess, token: str) -> None:
    body = {
        "model": "test/parsed",
        "max_tokens": 100,
        "stream": True,
        "messages": [{"role": "user", "content": "Weather?"}],
        "tools": [{"name": "get_weather", "input_schema": WEATHER_SCHEMA}],
    }
    with httpx.stream(
        "POST", f"{tiny_server.base_url}/v1/messages", json=body, headers={"x-api-key": token}
    ) as response:
        events = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]
    starts = [e["content_block"]["type"] for e in events if e["type"] == "content_block_start"]
    assert starts == ["thinking", "text", "tool_use"]
    deltas = {e["delta"]["type"] for e in events if e["type"] == "content_block_delta"}
    assert deltas == {"thinking_delta", "text_delta", "input_json_delta"}
    stop = next(e for e in events if e["type"] == "message_delta")
    assert stop["delta"]["stop_reason"] == "tool_use"


# ---- a round trip --------------------------------------------------------------------------------


def test_tool_round_trip_openai(client: OpenAI) -> None:
    first = client.chat.completions.create(model="test/tool-user", messages=ASK, tools=TOOLS)
    call = (first.choices[0].message.tool_calls or [])[0]
    assert first.choices[0].finish_reason == "tool_calls"
    follow_up: list[ChatCompletionMessageParam] = [
        *ASK,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},  # type: ignore[list-item]
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"},
    ]
    second = client.chat.completions.create(model="test/tool-user", messages=follow_up, tools=TOOLS)
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "It is sunny: What is the weather in Paris?"


def test_tool_round_trip_anthropic(claude: anthropic.Anthropic) -> None:
    tools: list[anthropic.types.ToolParam] = [{"name": "get_weather", "input_schema": WEATHER_SCHEMA}]
    first = claude.messages.create(
        model="test/tool-user",
        max_tokens=100,
        tools=tools,
        messages=[{"role": "user", "content": "Weather?"}],
    )
    assert first.stop_reason == "tool_use"
    use = first.content[-1]
    assert use.type == "tool_use" and use.input == {"city": "Paris", "days": 1}
    second = claude.messages.create(
        model="test/tool-user",
        max_tokens=100,
        tools=tools,
        messages=[
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}]},
        ],
    )
    assert second.stop_reason == "end_turn" and second.content[0].type == "text"
