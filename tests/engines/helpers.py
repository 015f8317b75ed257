"""Small helpers for the engine tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from openmaas.domain.chat import ChatEvent, ChatRequest, Message, Sampling, TextDelta, TextPart

TINY_ID = "test/tiny-llama"
TINY_CONTEXT = 512


def ask(text: str, model: str = TINY_ID, **sampling: Any) -> ChatRequest:
    sampling.setdefault("temperature", 0.0)
    return ChatRequest(
        model=model,
        messages=(Message("user", (TextPart(text),)),),
        sampling=Sampling(**sampling),
    )


async def collect(events: AsyncIterator[ChatEvent]) -> list[ChatEvent]:
    return [event async for event in events]


def text_of(events: list[ChatEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))
