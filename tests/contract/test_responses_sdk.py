"""The real `openai` SDK's Responses API (`responses.create`, `responses.stream`, `responses.parse`,
retrieve, delete, input items) against a real `openmaas serve` process (see `tiny_registry`):

- `test/tool-user` is a scripted model that calls a tool when offered one, else answers
  "It is sunny: <last user message>"; its prompt tokens are counted per message (words + 3), so the
  usage of a turn shows exactly which context reached the model.
- `test/parsed` writes raw `<think>` and `<tool_call>` text, parsed by the server.
- `test/tiny` is the tiny random-weight model on the real transformers engine: schema-valid JSON from it
  can only come from constrained decoding.
- `test/slow` (on the scripted server of `tests/conftest.py`) answers slowly, for a stream cut short.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import jsonschema
import openai
import pytest
from openai import OpenAI
from openai.types.responses import FunctionToolParam, ResponseInputItemParam
from pydantic import BaseModel, Field

from tests.contract.conftest import client_for, new_token
from tests.servers import ServerProcess

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
TOOLS: list[FunctionToolParam] = [
    {"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA, "strict": True}
]


@pytest.fixture(scope="module")
def client(tiny_server: ServerProcess) -> OpenAI:
    token = new_token(tiny_server, "responses-user")
    return OpenAI(base_url=f"{tiny_server.base_url}/v1", api_key=token, max_retries=0)


def test_create(client: OpenAI) -> None:
    raw = client.responses.with_raw_response.create(
        model="test/tool-user", input="hello", instructions="Be kind.", metadata={"app": "test"}
    )
    assert int(raw.headers["x-ratelimit-remaining-requests"]) < 2000
    response = raw.parse()
    assert response.id.startswith("resp_") and response.status == "completed"
    assert response.output_text == "It is sunny: hello"
    assert response.instructions == "Be kind." and response.metadata == {"app": "test"}
    assert response.usage is not None
    assert (
        response.usage.output_tokens == 4 and response.usage.input_tokens == 5 + 4
    )  # system + user: words + 3 each
    assert response.usage.total_tokens == 13


def test_stream_helper(client: OpenAI) -> None:
    with client.responses.stream(model="test/tool-user", input="hello there") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    assert kinds.count("response.output_text.delta") == 5
    assert final.output_text == "It is sunny: hello there" and final.status == "completed"
    assert client.responses.retrieve(final.id).output_text == final.output_text


def test_stream_of_reasoning_text_and_a_tool_call(client: OpenAI) -> None:
    with client.responses.stream(model="test/parsed", input="Weather?", tools=TOOLS) as stream:
        kinds = {event.type for event in stream}
        final = stream.get_final_response()
    assert {"response.reasoning_text.delta", "response.function_call_arguments.delta"} <= kinds
    assert [item.type for item in final.output] == ["reasoning", "message", "function_call"]
    reasoning, _, call = final.output
    assert reasoning.type == "reasoning" and reasoning.content is not None
    assert reasoning.content[0].text == "The user wants the weather. "
    assert final.output_text == "Checking. "
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris", "days": 2}
    assert final.usage is not None and final.usage.output_tokens_details.reasoning_tokens > 0


def test_previous_response_id_over_three_turns(client: OpenAI) -> None:
    first = client.responses.create(model="test/tool-user", input="one")
    second = client.responses.create(model="test/tool-user", input="two", previous_response_id=first.id)
    third = client.responses.create(model="test/tool-user", input="three", previous_response_id=second.id)
    assert third.output_text == "It is sunny: three" and third.previous_response_id == second.id
    # Each turn's prompt holds the whole conversation: 4 tokens a user turn, 7 an assistant answer.
    assert [r.usage.input_tokens for r in (first, second, third) if r.usage] == [4, 15, 26]
    items = client.responses.input_items.list(third.id)
    assert [item.type for item in items.data] == ["message"]
    client.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)
    with pytest.raises(openai.NotFoundError) as broken:
        client.responses.create(model="test/tool-user", input="four", previous_response_id=third.id)
    assert first.id in str(broken.value)


def test_function_tool_round_trip(client: OpenAI) -> None:
    question = "What is the weather in Paris?"
    first = client.responses.create(model="test/tool-user", input=question, tools=TOOLS)
    [call] = first.output
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris", "days": 1}
    result: ResponseInputItemParam = {
        "type": "function_call_output",
        "call_id": call.call_id,
        "output": "sunny, 21 C",
    }
    stored = client.responses.create(
        model="test/tool-user",
        previous_response_id=first.id,
        input=[result],
        tools=TOOLS,
    )
    assert stored.output_text == f"It is sunny: {question}"
    # The same without stored state: the client sends the whole conversation back.
    history: list[Any] = [{"role": "user", "content": question}, *first.output, result]
    stateless = client.responses.create(model="test/tool-user", input=history, tools=TOOLS, store=False)
    assert stateless.output_text == f"It is sunny: {question}"
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(stateless.id)


class Weather(BaseModel):
    city: str = Field(max_length=10, pattern=r"^[A-Za-z ]{0,10}$")
    days: int = Field(ge=1, le=14)


def test_json_schema_output(client: OpenAI) -> None:
    response = client.responses.create(
        model="test/tiny",
        input="What is the weather in Paris?",
        text={"format": {"type": "json_schema", "name": "weather", "schema": WEATHER_SCHEMA, "strict": True}},
        max_output_tokens=200,
        temperature=0,
    )
    jsonschema.validate(json.loads(response.output_text), WEATHER_SCHEMA)
    parsed = client.responses.parse(
        model="test/tiny",
        input="Weather in Paris?",
        text_format=Weather,
        max_output_tokens=200,
        temperature=0,
    )
    assert isinstance(parsed.output_parsed, Weather)


def test_errors_in_openai_shape(client: OpenAI, tiny_server: ServerProcess) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        client.responses.create(model="test/tool-user", input="x", tools=[{"type": "web_search"}])
    assert bad.value.body is not None and bad.value.body["param"] == "tools.0.type"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="no/such-model", input="x")
    other = OpenAI(
        base_url=f"{tiny_server.base_url}/v1", api_key=new_token(tiny_server, "someone-else"), max_retries=0
    )
    mine = client.responses.create(model="test/tool-user", input="private")
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(mine.id)
    limited = OpenAI(
        base_url=f"{tiny_server.base_url}/v1",
        api_key=new_token(tiny_server, "responses-limited", "--daily-limit", "1"),
        max_retries=0,
    )
    limited.responses.create(model="test/tool-user", input="x")
    with pytest.raises(openai.RateLimitError) as refused:
        limited.responses.create(model="test/tool-user", input="x")
    assert int(refused.value.response.headers["retry-after"]) > 0


def test_stream_cut_by_the_client_stops_generation(server: ServerProcess) -> None:
    client = client_for(server, "responses-cut")
    with client.responses.stream(model="test/slow", input="hi") as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                break
        assert _running(server, "test/slow") == 1.0
    for _ in range(50):
        if _running(server, "test/slow") == 0.0:
            break
        time.sleep(0.05)
    assert _running(server, "test/slow") == 0.0


def _running(server: ServerProcess, model: str) -> float:
    for line in httpx.get(f"{server.base_url}/metrics").text.splitlines():
        if line.startswith(f'openmaas_engine_running{{model="{model}"}}'):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no running gauge for {model}")
