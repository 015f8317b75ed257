"""A failure after a stream began is written by the route's dialect, with the same error type (and code)
as the same failure unstreamed: one test per streaming dialect, on an engine that fails after the first
token."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SCRIPTED_MODELS, Harness

FAILS_MIDWAY = """
[[models]]
id = "test/fails-midway"
task = "chat"
engine = "tests.fakes:ScriptedChatEngine"
[models.options]
reply = "one two three four"
fail_after = 1
"""
USER = [{"role": "user", "content": "hi"}]


@pytest.fixture
def models_file(tmp_path: Path) -> Path:
    path = tmp_path / "models.toml"
    path.write_text(SCRIPTED_MODELS + FAILS_MIDWAY)
    return path


def sse_events(text: str) -> list[tuple[str | None, str]]:
    """(event name or None, data) of each SSE event."""
    found = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        found.append((lines.get("event"), lines["data"]))
    return found


async def test_openai_chat_failure_mid_stream(harness: Harness) -> None:
    body: dict[str, Any] = {"model": "test/fails-midway", "messages": USER}
    unstreamed = await harness.chat(body)
    assert unstreamed.status_code == 500
    expected = unstreamed.json()["error"]
    assert expected["type"] == "server_error"

    streamed = await harness.chat({**body, "stream": True})
    assert streamed.status_code == 200
    data = [payload for _, payload in sse_events(streamed.text)]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(payload) for payload in data[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert any(c.get("choices") and c["choices"][0]["delta"].get("content") == "one" for c in chunks)
    error = chunks[-1]["error"]
    assert (error["type"], error["code"]) == (expected["type"], expected["code"])
    assert error["message"] == expected["message"]


async def test_anthropic_messages_failure_mid_stream(harness: Harness) -> None:
    headers = {"x-api-key": harness.token, "anthropic-version": "2023-06-01"}
    body: dict[str, Any] = {"model": "test/fails-midway", "max_tokens": 50, "messages": USER}
    unstreamed = await harness.client.post("/v1/messages", json=body, headers=headers)
    assert unstreamed.status_code == 500
    expected = unstreamed.json()["error"]
    assert expected["type"] == "api_error"

    streamed = await harness.client.post("/v1/messages", json={**body, "stream": True}, headers=headers)
    assert streamed.status_code == 200
    events = sse_events(streamed.text)
    names = [name for name, _ in events]
    assert names[0] == "message_start" and "content_block_delta" in names
    assert names[-1] == "error" and "message_stop" not in names
    assert json.loads(events[-1][1]) == {"type": "error", "error": expected}


async def test_responses_failure_mid_stream(harness: Harness) -> None:
    body: dict[str, Any] = {"model": "test/fails-midway", "input": "hi"}
    unstreamed = await harness.client.post("/v1/responses", json=body, headers=harness.auth)
    assert unstreamed.status_code == 500
    expected = unstreamed.json()["error"]
    assert expected["type"] == "server_error"

    streamed = await harness.client.post("/v1/responses", json={**body, "stream": True}, headers=harness.auth)
    assert streamed.status_code == 200
    events = [json.loads(payload) for _, payload in sse_events(streamed.text)]
    assert events[0]["type"] == "response.created"
    assert any(e["type"] == "response.output_text.delta" for e in events)
    failed = events[-1]
    assert failed["type"] == "response.failed"
    assert failed["response"]["error"] == {"code": expected["type"], "message": expected["message"]}
