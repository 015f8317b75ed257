"""The Anthropic dialect in-process on scripted engines: translation, shapes, the SSE order, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Harness

USER = [{"role": "user", "content": "hi there"}]


async def post(harness: Harness, body: dict[str, Any], *, headers: dict[str, str] | None = None) -> Any:
    auth = {"x-api-key": harness.token, "anthropic-version": "2023-06-01"} if headers is None else headers
    return await harness.client.post("/v1/messages", json=body, headers=auth)


def events(text: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        found.append((lines["event"], json.loads(lines["data"])))
    return found


async def test_message_shape(harness: Harness) -> None:
    response = await post(harness, {"model": "test/scripted", "max_tokens": 50, "messages": USER})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"].startswith("msg_") and body["type"] == "message" and body["role"] == "assistant"
    assert body["content"] == [{"type": "text", "text": "Hello! You said: hi there"}]
    assert body["stop_reason"] == "end_turn" and body["stop_sequence"] is None
    assert body["usage"]["output_tokens"] == 5 and body["usage"]["input_tokens"] > 0
    assert response.headers["request-id"] == response.headers["x-request-id"]
    assert response.headers["modelscope-ratelimit-requests-remaining"] == "1999"


async def test_bearer_auth_also_works(harness: Harness) -> None:
    response = await post(
        harness, {"model": "test/scripted", "max_tokens": 5, "messages": USER}, headers=harness.auth
    )
    assert response.status_code == 200


async def test_max_tokens_stop_reason(harness: Harness) -> None:
    body = (await post(harness, {"model": "test/scripted", "max_tokens": 2, "messages": USER})).json()
    assert body["stop_reason"] == "max_tokens" and body["content"][0]["text"] == "Hello! You"


async def test_stream_event_order(harness: Harness) -> None:
    response = await post(
        harness, {"model": "test/scripted", "max_tokens": 50, "messages": USER, "stream": True}
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    seq = events(response.text)
    names = [name for name, _ in seq]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) == {"content_block_delta"}
    assert all(name == data["type"] for name, data in seq)
    start = seq[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None and start["usage"]["input_tokens"] > 0
    assert seq[1][1] == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    text = "".join(d["delta"]["text"] for n, d in seq if n == "content_block_delta")
    assert text == "Hello! You said: hi there"
    delta = seq[-2][1]
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert delta["usage"]["output_tokens"] == 5


async def test_translation_of_blocks(harness: Harness) -> None:
    body = {
        "model": "test/scripted",
        "max_tokens": 20,
        "system": [{"type": "text", "text": "You are a cat."}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "x"},
                    {"type": "text", "text": "Let me check."},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [{"type": "text", "text": "sunny"}],
                    },
                    {"type": "text", "text": "thanks"},
                ],
            },
        ],
        "stop_sequences": ["END"],
        "top_k": 5,
        "temperature": 0.2,
        "metadata": {"user_id": "u1"},
    }
    assert (await post(harness, body)).status_code == 200
    engine = await harness.services.engines.engine("test/scripted")
    request = engine.received[-1]  # type: ignore[attr-defined]
    roles = [m.role for m in request.messages]
    assert roles == ["system", "user", "assistant", "tool", "user"]
    assert request.messages[0].text == "You are a cat."
    assert request.messages[2].text == "Let me check."
    call = request.messages[2].tool_calls[0]
    assert (call.id, call.name, json.loads(call.arguments)) == ("toolu_1", "get_weather", {"city": "Paris"})
    assert request.messages[3].tool_call_id == "toolu_1" and request.messages[3].text == "sunny"
    assert request.sampling.stop == ("END",) and request.sampling.top_k == 5
    assert request.sampling.max_tokens == 20


async def test_count_tokens(harness: Harness) -> None:
    response = await harness.client.post(
        "/v1/messages/count_tokens",
        json={"model": "test/scripted", "messages": USER},
        headers={"x-api-key": harness.token},
    )
    assert response.status_code == 200 and response.json()["input_tokens"] > 0


def assert_anthropic_error(response: Any, status: int, kind: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == kind and body["error"]["message"]
    assert body["request_id"].startswith("req-")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "test/scripted", "messages": USER}, "max_tokens"),
        ({"model": "test/scripted", "max_tokens": 5, "messages": []}, "messages"),
        ({"model": "test/scripted", "max_tokens": 5, "messages": USER, "temperature": 1.5}, "temperature"),
        (
            {"model": "test/scripted", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]},
            "role",
        ),
        (
            {"model": "test/scripted", "max_tokens": 5, "messages": USER, "tool_choice": {"type": "any"}},
            "tool_choice",
        ),
        (
            {
                "model": "test/scripted",
                "max_tokens": 5,
                "messages": [{"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "x"}]}],
            },
            "messages",
        ),
    ],
)
async def test_invalid_requests(harness: Harness, body: dict[str, Any], param: str) -> None:
    response = await post(harness, body)
    assert_anthropic_error(response, 400, "invalid_request_error")
    assert param in response.json()["error"]["message"]


async def test_error_shapes(harness: Harness) -> None:
    assert_anthropic_error(
        await post(harness, {"model": "test/scripted"}, headers={}), 401, "authentication_error"
    )
    missing = await post(harness, {"model": "no/model", "max_tokens": 5, "messages": USER})
    assert_anthropic_error(missing, 404, "not_found_error")
    broken = await post(harness, {"model": "test/broken", "max_tokens": 5, "messages": USER})
    assert_anthropic_error(broken, 500, "api_error")
    huge = await post(
        harness,
        {
            "model": "test/scripted",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "x" * 11_000_000}],
        },
    )
    assert_anthropic_error(huge, 413, "request_too_large")
    bad_json = await harness.client.post(
        "/v1/messages",
        content=b"{nope",
        headers={"x-api-key": harness.token, "content-type": "application/json"},
    )
    assert_anthropic_error(bad_json, 400, "invalid_request_error")


async def test_quota_exceeded_is_rate_limit_error(harness: Harness) -> None:
    token = await harness.token_for("anthro", daily_limit=1)
    headers = {"x-api-key": token}
    body = {"model": "test/scripted", "max_tokens": 5, "messages": USER}
    assert (await post(harness, body, headers=headers)).status_code == 200
    refused = await post(harness, body, headers=headers)
    assert_anthropic_error(refused, 429, "rate_limit_error")
    assert int(refused.headers["retry-after"]) > 0
    assert refused.headers["modelscope-ratelimit-requests-remaining"] == "0"
