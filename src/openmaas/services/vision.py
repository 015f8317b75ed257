"""The images of chat requests: checked against the model, counted, and fetched safely, before the quota.

`ChatImages.check` refuses images sent to a model that does not take them (a 400 naming the model) and
more than `vision_max_images` of them. `ChatImages.fetch` then fetches every image at once, with the
SSRF-safe fetcher (`openmaas.fetch`: http(s) URLs and data: URIs, byte and pixel caps, formats PNG, JPEG,
WebP, GIF and BMP, a complete decode) and a time limit for the whole set, and returns the request with
each `ImagePart` holding its checked bytes. Engines never touch the network: the transformers engine
reads the bytes, the worker wire carries them, an OpenAI-compatible upstream gets them as a data: URI.

Every refusal is an `InvalidRequest` naming the image's place in the wire request (`messages.0.content.1`)
and the reason, raised before a call of quota is reserved.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from openmaas.domain.chat import ChatRequest, ContentPart, ImagePart, Message
from openmaas.domain.errors import InvalidRequest
from openmaas.domain.models import ModelSpec
from openmaas.fetch import FetchedImage, ImageFetcher


class ChatImages:
    def __init__(self, fetcher: ImageFetcher, *, max_images: int) -> None:
        self.fetcher = fetcher
        self.max_images = max_images

    async def aclose(self) -> None:
        await self.fetcher.aclose()

    def check(self, spec: ModelSpec, request: ChatRequest) -> None:
        """The model takes images, and not too many of them (cheap: nothing is fetched)."""
        count = sum(len(message.images) for message in request.messages)
        if not count:
            return
        if not spec.accepts_images:
            raise InvalidRequest(
                f"Model '{spec.id}' accepts text only and cannot read images; remove the images from the "
                "messages or use a vision model (GET /v1/models lists each model's task).",
                param="messages",
            )
        if count > self.max_images:
            raise InvalidRequest(
                f"The messages hold {count} images; at most {self.max_images} are accepted in one request.",
                param="messages",
            )

    async def fetch(self, request: ChatRequest) -> ChatRequest:
        """The request with every image fetched and checked (400 naming the image on a refusal)."""
        wanted = [
            (m, p)
            for m, message in enumerate(request.messages)
            for p, part in enumerate(message.content)
            if isinstance(part, ImagePart)
        ]
        if not wanted:
            return request
        timeout = self.fetcher.policy.timeout
        try:
            async with asyncio.timeout(timeout), asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._fetch(request.messages[m].content[p])) for m, p in wanted]
        except TimeoutError:
            raise InvalidRequest(
                f"Fetching the images of the messages took longer than {timeout:g} s.", param="messages"
            ) from None
        except BaseExceptionGroup as group_error:
            raise _first_refusal(group_error) from None
        fetched = {place: task.result() for place, task in zip(wanted, tasks, strict=True)}
        return replace(request, messages=_with_images(request.messages, fetched))

    async def _fetch(self, part: ContentPart) -> ImagePart:
        assert isinstance(part, ImagePart)
        image = await self.fetcher.fetch(part.url, field=part.field or "messages")
        return _filled(part, image)


def _filled(part: ImagePart, image: FetchedImage) -> ImagePart:
    media_type = f"image/{image.format.lower()}"
    # A data: URI's payload is in `data` now; keeping both would double the request's size.
    url = f"data:{media_type};base64," if part.url[:5].lower() == "data:" else part.url
    return replace(part, url=url, data=image.data, media_type=media_type)


def _with_images(
    messages: tuple[Message, ...], fetched: dict[tuple[int, int], ImagePart]
) -> tuple[Message, ...]:
    return tuple(
        replace(
            message,
            content=tuple(fetched.get((m, p), part) for p, part in enumerate(message.content)),
        )
        if message.images
        else message
        for m, message in enumerate(messages)
    )


def _first_refusal(group_error: BaseExceptionGroup) -> BaseException:
    """The error to answer with when fetches failed: a refusal if there is one (the others were then
    cancelled), else whatever went wrong."""
    refusals, rest = group_error.split(InvalidRequest)
    if refusals is not None:
        return _leaves(refusals)[0]
    assert rest is not None
    return _leaves(rest)[0]


def _leaves(group_error: BaseExceptionGroup) -> list[BaseException]:
    leaves: list[BaseException] = []
    for error in group_error.exceptions:
        leaves.extend(_leaves(error) if isinstance(error, BaseExceptionGroup) else [error])
    return leaves
