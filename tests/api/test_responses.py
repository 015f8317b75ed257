"""The Responses API in-process on scripted engines: translation into the chat request, the response
object, the stream's event sequence, stored conversations and their owner, errors and quota."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from openmaas.domain.chat import ChatRequest, Reasoning, ResponseFormat, ToolCall
from openmaas.domain.errors import NotFound
from openmaas.services.responses import ResponseService
from tests.conftest import SCRIPTED_MODELS, Harness

EXTRA_MODELS = """
[[models]]
id = "test/agent"
task = "chat"
engine = "tests.fakes:ScriptedChatEngine"
[models.options]
reply = "Done: {last_user}"
reasoning = "Let me think"
tool_arguments = '{"city": "Paris"}'

[[models]]
id = "test/flaky"
task = "chat"
engine = "tests.fakes:ScriptedChatEngine"
[models.options]
reply = "one two three four"
fail_after = 2
"""
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture
def models_file(tmp_path: Path) -> Path:
    path = tmp_path / "models.toml"
    path.write_text(SCRIPTED_MODELS + EXTRA_MODELS)
    return path


async def create(harness: Harness, body: dict[str, Any], token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token or harness.token}"}
    return await harness.client.post(
        "/v1/responses", json={"model": "test/scripted", **body}, headers=headers
    )


def events(text: str) -> list[dict[str, Any]]:
    found = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        data = json.loads(lines["data"])
        assert lines["event"] == data["type"]
        found.append(data)
    return found


async def last_request(harness: Harness, model: str = "test/scripted") -> ChatRequest:
    engine = await harness.services.engines.engine(model)
    request: ChatRequest = engine.received[-1]  # type: ignore[attr-defined]
    return request


async def test_response_object(harness: Harness) -> None:
    response = await create(harness, {"input": "hi there", "metadata": {"k": "v"}, "user": "u1"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"].startswith("resp_") and body["object"] == "response" and body["status"] == "completed"
    (message,) = body["output"]
    assert (
        message["type"] == "message" and message["role"] == "assistant" and message["status"] == "completed"
    )
    assert message["id"].startswith("msg_")
    assert message["content"] == [
        {"type": "output_text", "text": "Hello! You said: hi there", "annotations": [], "logprobs": []}
    ]
    usage = body["usage"]
    assert usage["output_tokens"] == 5 and usage["input_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert usage["output_tokens_details"] == {"reasoning_tokens": 0}
    assert body["metadata"] == {"k": "v"} and body["user"] == "u1" and body["store"] is True
    assert body["tool_choice"] == "auto" and body["tools"] == [] and body["error"] is None
    assert response.headers["modelscope-ratelimit-requests-remaining"] == "1999"


async def test_input_items_translate_into_messages(harness: Harness) -> None:
    body = {
        "instructions": "Be brief.",
        "input": [
            {"role": "developer", "content": "Answer in English."},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": '{"city":"X"}',
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"role": "assistant", "content": [{"type": "output_text", "text": "It is sunny."}]},
            {"role": "user", "content": "thanks"},
        ],
        "max_output_tokens": 50,
        "temperature": 0.5,
        "top_p": 0.9,
    }
    assert (await create(harness, body)).status_code == 200
    request = await last_request(harness)
    roles = [m.role for m in request.messages]
    assert roles == ["system", "system", "user", "assistant", "tool", "assistant", "user"]
    assert request.messages[0].text == "Be brief."
    assert request.messages[3].tool_calls == (ToolCall("call_1", "get_weather", '{"city":"X"}'),)
    assert request.messages[4].tool_call_id == "call_1" and request.messages[4].name == "get_weather"
    assert request.messages[4].text == "sunny"
    sampling = request.sampling
    assert (sampling.max_tokens, sampling.temperature, sampling.top_p) == (50, 0.5, 0.9)


async def test_settings_reach_the_chat_request(harness: Harness) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    body = {
        "input": "x",
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "text": {"format": {"type": "json_schema", "name": "thing", "schema": schema, "strict": True}},
        "reasoning": {"effort": "none"},
    }
    response = await create(harness, body)
    assert response.status_code == 200, response.text
    request = await last_request(harness)
    assert request.tools[0].name == "get_weather" and request.tool_choice.name == "get_weather"
    assert request.response_format == ResponseFormat(kind="json_schema", schema=schema, name="thing")
    assert request.reasoning == Reasoning(enabled=False)
    echoed = response.json()
    assert echoed["tool_choice"] == {"type": "function", "name": "get_weather"}
    assert echoed["text"]["format"]["type"] == "json_schema" and echoed["tools"][0]["name"] == "get_weather"
    await create(
        harness, {"input": "x", "reasoning": {"effort": "high"}, "text": {"format": {"type": "json_object"}}}
    )
    request = await last_request(harness)
    assert request.reasoning == Reasoning(enabled=True)
    assert request.response_format == ResponseFormat(kind="json_object")


async def test_stream_event_sequence(harness: Harness) -> None:
    response = await create(harness, {"input": "hi there", "stream": True})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["modelscope-ratelimit-requests-remaining"] == "1999"
    seq = events(response.text)
    assert [e["sequence_number"] for e in seq] == list(range(len(seq)))
    names = [e["type"] for e in seq]
    assert names[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert set(names[4:-4]) == {"response.output_text.delta"}
    assert names[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert seq[0]["response"]["status"] == "in_progress" and seq[0]["response"]["output"] == []
    text = "".join(e["delta"] for e in seq if e["type"] == "response.output_text.delta")
    assert text == "Hello! You said: hi there" == seq[-4]["text"]
    final = seq[-1]["response"]
    assert final["status"] == "completed" and final["output"] == [seq[-2]["item"]]
    assert final["usage"]["output_tokens"] == 5
    stored = await harness.client.get(f"/v1/responses/{final['id']}", headers=harness.auth)
    assert stored.json() == final


async def test_reasoning_and_function_call_items(harness: Harness) -> None:
    body = {"model": "test/agent", "input": "Weather in Paris?", "tools": [WEATHER_TOOL]}
    plain = (await create(harness, body)).json()
    reasoning, call = plain["output"]
    assert reasoning["type"] == "reasoning" and reasoning["id"].startswith("rs_")
    assert reasoning["content"] == [{"type": "reasoning_text", "text": "Let me think"}]
    assert call["type"] == "function_call" and call["name"] == "get_weather" and call["status"] == "completed"
    assert call["arguments"] == '{"city": "Paris"}' and call["id"].startswith("fc_")
    assert plain["usage"]["output_tokens_details"]["reasoning_tokens"] == 3
    seq = events((await create(harness, {**body, "stream": True})).text)
    names = [e["type"] for e in seq]
    assert "response.reasoning_text.delta" in names and "response.reasoning_text.done" in names
    args = "".join(e["delta"] for e in seq if e["type"] == "response.function_call_arguments.delta")
    done = next(e for e in seq if e["type"] == "response.function_call_arguments.done")
    assert args == done["arguments"] == '{"city": "Paris"}'
    added = [e["item"]["type"] for e in seq if e["type"] == "response.output_item.added"]
    assert added == ["reasoning", "function_call"]
    assert [i["type"] for i in seq[-1]["response"]["output"]] == ["reasoning", "function_call"]


async def test_function_call_round_trip_with_previous_response(harness: Harness) -> None:
    first = (
        await create(harness, {"model": "test/agent", "input": "Weather?", "tools": [WEATHER_TOOL]})
    ).json()
    call = first["output"][-1]
    second = await create(
        harness,
        {
            "model": "test/agent",
            "previous_response_id": first["id"],
            "input": [{"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}],
            "tools": [WEATHER_TOOL],
        },
    )
    assert second.status_code == 200, second.text
    assert second.json()["output"][-1]["content"][0]["text"] == "Done: Weather?"
    request = await last_request(harness, "test/agent")
    assert [m.role for m in request.messages] == ["user", "assistant", "tool"]
    assert request.messages[1].tool_calls[0].id == call["call_id"]


async def test_three_turns_keep_the_whole_context(harness: Harness) -> None:
    previous = None
    for turn in ("one", "two", "three"):
        body: dict[str, Any] = {"input": turn, "instructions": f"turn {turn}"}
        if previous:
            body["previous_response_id"] = previous
        response = await create(harness, body)
        assert response.status_code == 200
        previous = response.json()["id"]
    request = await last_request(harness)
    texts = [(m.role, m.text) for m in request.messages]
    assert texts == [
        ("system", "turn three"),  # instructions are not carried over
        ("user", "one"),
        ("assistant", "Hello! You said: one"),
        ("user", "two"),
        ("assistant", "Hello! You said: two"),
        ("user", "three"),
    ]


async def test_stored_responses_belong_to_their_owner(harness: Harness) -> None:
    body = (
        await create(harness, {"input": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]})
    ).json()
    rid = body["id"]
    other = await harness.token_for("mallory")
    for method, path in (("GET", rid), ("GET", f"{rid}/input_items"), ("DELETE", rid)):
        response = await harness.client.request(
            method, f"/v1/responses/{path}", headers={"Authorization": f"Bearer {other}"}
        )
        assert response.status_code == 404 and response.json()["error"]["type"] == "not_found_error"
    refused = await create(harness, {"input": "x", "previous_response_id": rid}, token=other)
    assert refused.status_code == 404 and refused.json()["error"]["param"] == "previous_response_id"
    items = (await harness.client.get(f"/v1/responses/{rid}/input_items", headers=harness.auth)).json()
    assert items["object"] == "list" and items["has_more"] is False
    assert [i["content"][0]["text"] for i in items["data"]] == ["b", "a"]  # newest first by default
    assert all(i["id"].startswith("msg_") and i["type"] == "message" for i in items["data"])
    page = await harness.client.get(
        f"/v1/responses/{rid}/input_items", params={"order": "asc", "limit": 1}, headers=harness.auth
    )
    assert [i["content"][0]["text"] for i in page.json()["data"]] == ["a"] and page.json()["has_more"]
    after = await harness.client.get(
        f"/v1/responses/{rid}/input_items",
        params={"order": "asc", "after": page.json()["last_id"]},
        headers=harness.auth,
    )
    assert [i["content"][0]["text"] for i in after.json()["data"]] == ["b"]
    deleted = await harness.client.delete(f"/v1/responses/{rid}", headers=harness.auth)
    assert deleted.json() == {"id": rid, "object": "response", "deleted": True}
    assert (await harness.client.get(f"/v1/responses/{rid}", headers=harness.auth)).status_code == 404


async def test_store_false_keeps_nothing(harness: Harness) -> None:
    body = (await create(harness, {"input": "x", "store": False})).json()
    assert body["store"] is False
    assert (await harness.client.get(f"/v1/responses/{body['id']}", headers=harness.auth)).status_code == 404


async def test_max_output_tokens_makes_it_incomplete(harness: Harness) -> None:
    body = (await create(harness, {"input": "hi there", "max_output_tokens": 2})).json()
    assert body["status"] == "incomplete" and body["incomplete_details"] == {"reason": "max_output_tokens"}
    assert body["output"][0]["status"] == "incomplete"
    seq = events((await create(harness, {"input": "hi", "max_output_tokens": 2, "stream": True})).text)
    assert seq[-1]["type"] == "response.incomplete"


async def test_failure_mid_stream_is_a_failed_response(harness: Harness) -> None:
    response = await create(harness, {"model": "test/flaky", "input": "x", "stream": True})
    seq = events(response.text)
    assert seq[-1]["type"] == "response.failed"
    failed = seq[-1]["response"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "server_error"
    assert "scripted failure" in failed["error"]["message"]
    assert (
        await harness.client.get(f"/v1/responses/{failed['id']}", headers=harness.auth)
    ).status_code == 404


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "x", "temperature": 3}, "temperature"),
        ({"input": "x", "tools": [{"type": "web_search"}]}, "tools.0.type"),
        (
            {"input": "x", "tools": [WEATHER_TOOL], "tool_choice": {"type": "function", "name": "nope"}},
            "tool_choice",
        ),
        ({"input": "x", "tool_choice": "required"}, "tool_choice"),
        ({"input": "x", "text": {"format": {"type": "json_schema", "name": "n"}}}, "text.format.schema"),
        ({"input": [{"type": "web_search_call", "id": "ws_1"}]}, "input.0.type"),
        ({"input": [{"type": "function_call", "name": "f"}]}, "input.0.call_id"),
        ({"input": [{"role": "user", "content": [{"type": "input_text"}]}]}, "input.0.content.0.text"),
        ({"input": 5}, "input"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
            "input.0.content.0",
        ),
        ({"input": []}, "input"),
        ({"input": "x", "previous_response_id": "resp_nope"}, "previous_response_id"),
        ({"input": "x", "background": True}, "background"),
        ({"input": "x", "metadata": {str(i): "v" for i in range(17)}}, "metadata"),
        (
            {"input": [{"role": "assistant", "content": [{"type": "input_image", "image_url": "data:,"}]}]},
            "input.0.content.0",
        ),
    ],
)
async def test_bad_requests_are_400s_or_404s_and_not_counted(
    harness: Harness, body: dict[str, Any], param: str
) -> None:
    response = await create(harness, body)
    assert response.status_code in (400, 404), response.text
    error = response.json()["error"]
    assert error["param"] == param, error
    usage = (await harness.client.get("/v1/usage", headers=harness.auth)).json()
    assert usage["used"] == 0


async def test_quota_429_with_headers(harness: Harness) -> None:
    for _ in range(3):
        assert (await create(harness, {"model": "test/capped", "input": "x"})).status_code == 200
    refused = await create(harness, {"model": "test/capped", "input": "x"})
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert int(refused.headers["retry-after"]) > 0
    assert refused.headers["modelscope-ratelimit-model-requests-remaining"] == "0"


async def test_unknown_model_and_bad_token(harness: Harness) -> None:
    assert (await create(harness, {"model": "no/such", "input": "x"})).status_code == 404
    assert (await create(harness, {"input": "x"}, token="ms-nope")).status_code == 401


async def test_metrics_label_routes_not_ids(harness: Harness) -> None:
    rid = (await create(harness, {"input": "x"})).json()["id"]
    await harness.client.get(f"/v1/responses/{rid}", headers=harness.auth)
    metrics = (await harness.client.get("/metrics")).text
    assert 'openmaas_requests_total{model="test/scripted",route="/v1/responses",status="200"} 1.0' in metrics
    assert 'route="/v1/responses/{response_id}"' in metrics and rid not in metrics
    assert 'openmaas_tokens_total{direction="out",model="test/scripted"} 4.0' in metrics


async def test_retention(harness: Harness) -> None:
    rid = (await create(harness, {"input": "x"})).json()["id"]
    caller = await harness.services.authenticator.caller(harness.token)
    assert (await harness.services.responses.get(caller, rid)).id == rid
    expiring = ResponseService(harness.services.responses.store, retention_hours=1e-9)
    with pytest.raises(NotFound):
        await expiring.get(caller, rid)  # unreadable once past the retention, even before the sweep
    assert await expiring.sweep() == 1
    assert (await harness.client.get(f"/v1/responses/{rid}", headers=harness.auth)).status_code == 404
