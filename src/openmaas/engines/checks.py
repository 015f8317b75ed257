"""The checks every local chat engine makes on a request before it generates, with one message each.

- `answer_budget`: the room a prompt leaves in the model's context, and the request's `max_tokens`;
- `image_bytes`: an image part's fetched bytes (the chat service fetches every image, safely, see
  `openmaas.fetch`, before an engine sees it).

A model that is still loading is `ModelNotReady` (`openmaas.domain.errors`).
"""

from __future__ import annotations

from openmaas.domain.chat import ImagePart
from openmaas.domain.errors import InvalidRequest


def answer_budget(model_id: str, context_length: int, prompt_tokens: int, max_tokens: int | None) -> int:
    """The most tokens the answer may have: the room the prompt leaves in the context, or `max_tokens`
    if less. A prompt that leaves no room, or a `max_tokens` below 1, is an `InvalidRequest`."""
    room = context_length - prompt_tokens
    if room <= 0:
        raise InvalidRequest(
            f"The messages are {prompt_tokens} tokens long, which leaves no room for an answer in the "
            f"{context_length}-token context of model '{model_id}'; shorten them.",
            param="messages",
        )
    if max_tokens is not None and max_tokens < 1:
        raise InvalidRequest("max_tokens must be at least 1.", param="max_tokens")
    return min(room, max_tokens or room)


def image_bytes(part: ImagePart) -> bytes:
    """The fetched bytes of an image part; one that reached the engine without them is an
    `InvalidRequest`."""
    if part.data is None:
        raise InvalidRequest(
            "An image in the messages reached the model without its data: this server did not fetch it.",
            param="messages",
        )
    return part.data
