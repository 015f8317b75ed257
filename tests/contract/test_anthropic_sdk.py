"""The real `anthropic` SDK against a real `openmaas serve` process on 127.0.0.1 (scripted engines)."""

from __future__ import annotations

import anthropic
import httpx
import pytest
from anthropic.types import MessageParam

from tests.contract.conftest import new_token
from tests.servers import ServerProcess

USER: list[MessageParam] = [{"role": "user", "content": "write a python quicksort"}]


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=server.base_url, api_key=new_token(server, "claude-fan"), max_retries=0
    )


def test_create(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model="test/scripted", max_tokens=1024, messages=USER)
    assert message.content[0].type == "text"
    assert message.content[0].text == "Hello! You said: write a python quicksort"
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 7 and message.usage.input_tokens > 0
    assert message._request_id is not None and message._request_id.startswith("req-")


def test_stream_text_and_final_message(client: anthropic.Anthropic) -> None:
    with client.messages.stream(model="test/scripted", max_tokens=1024, messages=USER) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello! You said: write a python quicksort"
    assert final.content[0].type == "text" and final.content[0].text == text
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 7


def test_raw_stream_event_order(server: ServerProcess, client: anthropic.Anthropic) -> None:
    body = {"model": "test/scripted", "max_tokens": 64, "stream": True, "messages": USER}
    with httpx.stream(
        "POST", f"{server.base_url}/v1/messages", json=body, headers={"x-api-key": client.api_key or ""}
    ) as response:
        names = [line[7:] for line in response.iter_lines() if line.startswith("event: ")]
    deltas = names.count("content_block_delta")
    assert deltas == 7
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * deltas,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]


def test_max_tokens(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model="test/scripted", max_tokens=2, messages=USER)
    assert message.stop_reason == "max_tokens"


def test_errors_surface_as_sdk_exceptions(server: ServerProcess, client: anthropic.Anthropic) -> None:
    stranger = anthropic.Anthropic(base_url=server.base_url, api_key="ms-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        stranger.messages.create(model="test/scripted", max_tokens=5, messages=USER)
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="no/such", max_tokens=5, messages=USER)
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(
            model="test/scripted", max_tokens=5, messages=USER, extra_body={"temperature": 3}
        )
    assert "temperature" in str(bad.value)
    with pytest.raises(anthropic.InternalServerError):
        client.messages.create(model="test/broken", max_tokens=5, messages=USER)
    limited = anthropic.Anthropic(
        base_url=server.base_url, api_key=new_token(server, "one-call", "--daily-limit", "1"), max_retries=0
    )
    limited.messages.create(model="test/scripted", max_tokens=5, messages=USER)
    with pytest.raises(anthropic.RateLimitError) as refused:
        limited.messages.create(model="test/scripted", max_tokens=5, messages=USER)
    assert int(refused.value.response.headers["retry-after"]) > 0


def test_count_tokens(client: anthropic.Anthropic) -> None:
    counted = client.messages.count_tokens(model="test/scripted", messages=USER)
    assert counted.input_tokens > 0
