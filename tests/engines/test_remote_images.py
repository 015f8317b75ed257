"""Images for models served elsewhere: the API tier fetched them, so an engine worker gets the bytes on
the internal wire and an OpenAI-compatible upstream gets them as a data: URI (never the client's URL)."""

from __future__ import annotations

from pathlib import Path

from openmaas.domain.chat import ChatRequest, ImagePart, Message, TextPart
from openmaas.engines.remote.openai_wire import request_body
from openmaas.engines.remote.wire import decode_request, encode_request
from tests.engines.test_openai_compatible import gateway, upstreams
from tests.pictures import data_uri, solid

RED = solid((255, 0, 0))
FETCHED = ImagePart(url="https://example.com/red.png", data=RED, media_type="image/png")


def request_with(part: ImagePart) -> ChatRequest:
    return ChatRequest(model="m", messages=(Message("user", (part, TextPart("what is it?"))),))


def test_the_worker_wire_carries_the_fetched_bytes() -> None:
    decoded = decode_request(encode_request(request_with(FETCHED)))
    assert decoded.messages[0].content[0] == ImagePart(
        url="https://example.com/red.png", data=RED, media_type="image/png"
    )


def test_an_upstream_gets_the_bytes_as_a_data_uri() -> None:
    body = request_body(request_with(FETCHED), "served")
    assert body["messages"][0]["content"][0] == {"type": "image_url", "image_url": {"url": data_uri(RED)}}


async def test_images_reach_a_vision_upstream_and_a_text_upstream_refuses_them(tmp_path: Path) -> None:
    content = [{"type": "image_url", "image_url": {"url": data_uri(RED)}}, {"type": "text", "text": "what?"}]
    messages = [{"role": "user", "content": content}]
    async with upstreams(1) as [(fake, url)]:
        async with gateway(tmp_path / "vision", [url], capabilities=("vision",)) as gw:
            response = await gw.chat(messages=messages)
            assert response.status_code == 200, response.text
            assert fake.received[0]["messages"][0]["content"][0] == content[0]
        async with gateway(tmp_path / "text", [url]) as gw:
            refused = await gw.chat(messages=messages)
            assert refused.status_code == 400
            assert (
                refused.json()["error"]["param"] == "messages"
                and "up/model" in refused.json()["error"]["message"]
            )
            assert len(fake.received) == 1
