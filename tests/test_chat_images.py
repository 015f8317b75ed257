"""The images of chat requests (`services/vision.py`): the model and count checks, and fetching all of a
request's images at once, under one time limit, naming the image that is refused."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openmaas.domain.chat import ChatRequest, ContentPart, ImagePart, Message, TextPart
from openmaas.domain.errors import InvalidRequest
from openmaas.domain.models import ModelSpec
from openmaas.fetch import FetchPolicy, ImageFetcher
from openmaas.services.vision import ChatImages
from tests.pictures import data_uri, solid
from tests.servers import uvicorn_server

RED = solid((255, 0, 0))
VISION = ModelSpec(id="v/vision", task="vision", engine="x")
UPSTREAM_VISION = ModelSpec(id="v/upstream", task="chat", engine="x", capabilities=("vision",))
TEXT = ModelSpec(id="v/text", task="chat", engine="x")
LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"),)


class Site:
    """`/together/N.png` answers only once `N` requests wait at the same time; `/never.png` not before the
    test ends."""

    def __init__(self) -> None:
        self.waiting = 0
        self.arrived = asyncio.Event()
        self.ended = asyncio.Event()

        async def together(request: Request) -> Response:
            self.waiting += 1
            if self.waiting >= int(request.path_params["count"]):
                self.arrived.set()
            await self.arrived.wait()
            return Response(RED, media_type="image/png")

        async def never(_: Request) -> Response:
            await self.ended.wait()
            return Response("too late", status_code=504)

        self.app = Starlette(
            routes=[Route("/together/{count:int}.png", together), Route("/never.png", never)]
        )


@pytest.fixture
async def site() -> AsyncIterator[tuple[Site, str]]:
    pictures = Site()
    async with uvicorn_server(pictures.app) as base_url:  # type: ignore[arg-type]
        yield pictures, base_url
        pictures.ended.set()  # the server waits for its requests to end before it stops


def images(timeout: float = 10.0, max_images: int = 8) -> ChatImages:
    return ChatImages(
        ImageFetcher(FetchPolicy(allow_networks=LOOPBACK, timeout=timeout)), max_images=max_images
    )


def asking(*urls: str) -> ChatRequest:
    parts: tuple[ContentPart, ...] = (
        *(ImagePart(url=url, field=f"messages.1.content.{i}.image_url.url") for i, url in enumerate(urls)),
        TextPart("what?"),
    )
    return ChatRequest("m", (Message("system", (TextPart("Be brief."),)), Message("user", parts)))


def test_the_model_must_take_images_and_not_too_many() -> None:
    checker = images(max_images=2)
    checker.check(TEXT, ChatRequest("m", (Message("user", (TextPart("no pictures"),)),)))
    checker.check(VISION, asking(data_uri(RED), data_uri(RED)))
    checker.check(UPSTREAM_VISION, asking(data_uri(RED)))
    with pytest.raises(InvalidRequest, match="Model 'v/text' accepts text only") as refused:
        checker.check(TEXT, asking(data_uri(RED)))
    assert refused.value.param == "messages"
    with pytest.raises(InvalidRequest, match="3 images; at most 2"):
        checker.check(VISION, asking(*[data_uri(RED)] * 3))


async def test_fetched_images_carry_their_bytes_and_type() -> None:
    checker = images()
    request = asking(data_uri(RED), data_uri(solid((0, 0, 255), image_format="JPEG"), "image/jpeg"))
    fetched = await checker.fetch(request)
    red, blue = fetched.messages[1].images
    assert (red.data, red.media_type, red.url) == (RED, "image/png", "data:image/png;base64,")
    assert blue.media_type == "image/jpeg" and blue.data is not None
    assert fetched.messages[0] == request.messages[0] and fetched.messages[1].text == "what?"
    without = ChatRequest("m", (Message("user", (TextPart("no pictures"),)),))
    assert await checker.fetch(without) is without
    await checker.aclose()


async def test_the_images_of_a_request_are_fetched_at_once(site: tuple[Site, str]) -> None:
    _, base_url = site
    checker = images()
    fetched = await checker.fetch(
        asking(*[f"{base_url}/together/3.png"] * 3)
    )  # would wait forever one by one
    assert [image.data for image in fetched.messages[1].images] == [RED] * 3
    await checker.aclose()


async def test_all_the_images_share_one_time_limit(site: tuple[Site, str]) -> None:
    _, base_url = site
    checker = images(timeout=0.5)
    with pytest.raises(InvalidRequest, match=r"took longer than 0\.5 s") as refused:
        await checker.fetch(asking(data_uri(RED), f"{base_url}/never.png"))
    assert refused.value.param is not None and refused.value.param.startswith("messages")
    await checker.aclose()


async def test_a_refused_image_is_named_and_ends_the_others(site: tuple[Site, str]) -> None:
    _, base_url = site
    checker = images(timeout=60)
    with pytest.raises(InvalidRequest) as refused:
        await checker.fetch(asking(f"{base_url}/never.png", data_uri(b"not a picture")))
    assert refused.value.param == "messages.1.content.1.image_url.url"
    assert refused.value.message == "messages.1.content.1.image_url.url: the content is not a valid image."
    await checker.aclose()
