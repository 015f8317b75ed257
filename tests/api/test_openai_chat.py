"""The OpenAI chat dialect in-process on scripted engines: shapes, streaming, errors, headers."""

from __future__ import annotations

import json

import httpx

from tests.conftest import Harness

USER = [{"role": "user", "content": "hi there"}]


def sse_data(response: httpx.Response) -> list[str]:
    return [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]


async def test_non_streaming_shape(harness: Harness) -> None:
    response = await harness.chat({"model": "test/scripted", "messages": USER})
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == "test/scripted"
    assert body["system_fingerprint"]
    choice = body["choices"][0]
    assert choice == {
        "index": 0,
        "message": {"role": "assistant", "content": "Hello! You said: hi there"},
        "finish_reason": "stop",
        "logprobs": None,
    }
    usage = body["usage"]
    assert usage["completion_tokens"] == 5
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert response.headers["x-request-id"].startswith("req-")


async def test_streaming_chunks_in_order(harness: Harness) -> None:
    body = {
        "model": "test/scripted",
        "messages": USER,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    response = await harness.chat(body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    data = sse_data(response)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Hello! You said: hi there"
    finish = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finish) == 1 and finish[0]["choices"][0]["finish_reason"] == "stop"
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert all("usage" in c and c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 5


async def test_stream_without_usage_has_no_usage_chunk(harness: Harness) -> None:
    response = await harness.chat({"model": "test/scripted", "messages": USER, "stream": True})
    chunks = [json.loads(d) for d in sse_data(response)[:-1]]
    assert all("usage" not in c for c in chunks)


async def test_max_tokens_gives_length(harness: Harness) -> None:
    response = await harness.chat({"model": "test/scripted", "messages": USER, "max_tokens": 2})
    body = response.json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["choices"][0]["message"]["content"] == "Hello! You"


async def test_several_choices(harness: Harness) -> None:
    response = await harness.chat({"model": "test/scripted", "messages": USER, "n": 3})
    choices = response.json()["choices"]
    assert [c["index"] for c in choices] == [0, 1, 2]
    streamed = await harness.chat({"model": "test/scripted", "messages": USER, "n": 2, "stream": True})
    chunks = [json.loads(d) for d in sse_data(streamed)[:-1]]
    for index in (0, 1):
        text = "".join(
            c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"][0]["index"] == index
        )
        assert text == "Hello! You said: hi there"


async def test_message_forms_are_translated(harness: Harness) -> None:
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "You are a cat."}]},
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "hello "}, {"type": "text", "text": "kitty"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
        {"role": "user", "content": "again"},
    ]
    response = await harness.chat({"model": "test/scripted", "messages": messages, "unknown_field": {"x": 1}})
    assert response.status_code == 200
    engine = await harness.services.engines.engine("test/scripted")
    request = engine.received[-1]  # type: ignore[attr-defined]
    assert [m.role for m in request.messages] == ["system", "system", "user", "assistant", "tool", "user"]
    assert request.messages[2].text == "hello kitty"
    assert request.messages[3].tool_calls[0].name == "f"
    assert request.messages[4].tool_call_id == "c1"


async def test_sampling_parameters_reach_the_engine(harness: Harness) -> None:
    body = {
        "model": "test/scripted",
        "messages": USER,
        "temperature": 0.3,
        "top_p": 0.9,
        "seed": 7,
        "stop": "END",
        "max_completion_tokens": 9,
        "max_tokens": 100,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
    }
    assert (await harness.chat(body)).status_code == 200
    engine = await harness.services.engines.engine("test/scripted")
    sampling = engine.received[-1].sampling  # type: ignore[attr-defined]
    assert (sampling.temperature, sampling.top_p, sampling.seed, sampling.stop) == (0.3, 0.9, 7, ("END",))
    assert sampling.max_tokens == 9
    assert (sampling.presence_penalty, sampling.frequency_penalty) == (0.5, -0.5)


async def test_models_list_needs_no_token(harness: Harness) -> None:
    response = await harness.client.get("/v1/models")
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    assert ids == ["test/scripted", "test/slow", "test/broken", "test/capped"]
    entry = body["data"][0]
    assert entry["object"] == "model" and entry["owned_by"] == "test" and entry["task"] == "chat"
    assert isinstance(entry["created"], int) and isinstance(entry["capabilities"], list)
    one = await harness.client.get("/v1/models/test/scripted")
    assert one.json()["id"] == "test/scripted"
    missing = await harness.client.get("/v1/models/nope/nothing")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"


async def test_health_ready_and_metrics(harness: Harness) -> None:
    assert (await harness.client.get("/healthz")).json() == {"status": "ok"}
    ready = await harness.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["models"]["test/scripted"] == "ready"
    await harness.chat({"model": "test/scripted", "messages": USER})
    metrics = (await harness.client.get("/metrics")).text
    assert (
        'openmaas_requests_total{model="test/scripted",route="/v1/chat/completions",status="200"}' in metrics
    )
    assert "openmaas_time_to_first_token_seconds_count" in metrics
    assert 'openmaas_tokens_total{direction="out",model="test/scripted"}' in metrics
    assert 'openmaas_engine_queue_depth{model="test/scripted"}' in metrics
