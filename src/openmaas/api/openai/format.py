"""Chat answers in OpenAI's shapes: the `chat.completion` object and the `chat.completion.chunk` stream.

The stream is the hot path (one chunk per generated token), so a text chunk is the pre-encoded
prefix and suffix of its JSON around the JSON-encoded text: no dict is built per token.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from openmaas import __version__
from openmaas.api.openai.errors import openai_error
from openmaas.api.wire import dumps
from openmaas.domain.chat import ChatEvent, Finish, ReasoningDelta, TextDelta, ToolCallDelta, Usage
from openmaas.domain.errors import OpenMaaSError
from openmaas.services.chat import ChatCall, ChatResult, Choice

SYSTEM_FINGERPRINT = f"openmaas-{__version__}"
DONE = b"data: [DONE]\n\n"


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def usage_json(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def completion_body(result: ChatResult, *, completion: str, model: str, created: int) -> dict[str, Any]:
    choices = []
    for index, choice in enumerate(result.choices):
        message: dict[str, Any] = {"role": "assistant", "content": choice.content}
        if choice.reasoning_content is not None:
            message["reasoning_content"] = choice.reasoning_content
        calls = choice.calls
        if calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in calls
            ]
            if not message["content"]:
                message["content"] = None
        choices.append(
            {"index": index, "message": message, "finish_reason": choice.finish_reason, "logprobs": None}
        )
    return {
        "id": completion,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": choices,
        "usage": usage_json(result.usage),
    }


class ChunkEncoder:
    """Encodes one streamed answer as SSE `data:` lines, ending with `data: [DONE]` (a `StreamEncoder`,
    see `openmaas.api.sse`): each choice's first chunk carries its role, usage comes last when asked for,
    and a failure is one chunk with OpenAI's `error` object."""

    end = DONE

    def __init__(
        self, *, completion: str, model: str, include_usage: bool, created: int | None = None
    ) -> None:
        self.include_usage = include_usage
        head = {
            "id": completion,
            "object": "chat.completion.chunk",
            "created": created if created is not None else int(time.time()),
            "model": model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
        }
        self._head = dumps(head)[:-1]  # without the closing brace
        self._tail = b',"usage":null}\n\n' if include_usage else b"}\n\n"
        self._text_open: dict[int, bytes] = {}
        self._reasoning_open: dict[int, bytes] = {}
        self._started: set[int] = set()

    async def opening(self, call: ChatCall) -> bytes:
        return b""

    def event(self, choice: Choice) -> bytes:
        index, event = choice
        if index in self._started:
            return self._event(index, event)
        self._started.add(index)
        return self.role(index) + self._event(index, event)

    async def closing(self, call: ChatCall) -> bytes:
        return self.usage(call.usage) if self.include_usage else b""

    def failure(self, error: OpenMaaSError) -> bytes:
        """An error after the stream began (the status line is already sent): one error chunk."""
        return b"data: " + dumps({"error": openai_error(error)}) + b"\n\n"

    def _chunk(self, index: int, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return b"data: " + self._head + b',"choices":[' + dumps(choice) + b"]" + self._tail

    def role(self, index: int) -> bytes:
        """The first chunk of a choice: its role, with empty content, as OpenAI sends it."""
        return self._chunk(index, {"role": "assistant", "content": ""})

    def _text_prefix(self, index: int, field: str, cache: dict[int, bytes]) -> bytes:
        prefix = cache.get(index)
        if prefix is None:
            prefix = (
                b"data: " + self._head + b',"choices":[{"index":%d,"delta":{"%s":' % (index, field.encode())
            )
            cache[index] = prefix
        return prefix

    def _event(self, index: int, event: ChatEvent) -> bytes:
        if isinstance(event, TextDelta):
            prefix = self._text_prefix(index, "content", self._text_open)
            return prefix + dumps(event.text) + b'},"logprobs":null,"finish_reason":null}]' + self._tail
        if isinstance(event, ReasoningDelta):
            prefix = self._text_prefix(index, "reasoning_content", self._reasoning_open)
            return prefix + dumps(event.text) + b'},"logprobs":null,"finish_reason":null}]' + self._tail
        if isinstance(event, ToolCallDelta):
            call: dict[str, Any] = {"index": event.index}
            if event.id is not None:
                call.update(id=event.id, type="function")
            function: dict[str, str] = {"arguments": event.arguments}
            if event.name is not None:
                function["name"] = event.name
            call["function"] = function
            return self._chunk(index, {"tool_calls": [call]})
        if isinstance(event, Finish):
            return self._chunk(index, {}, event.reason)
        return b""

    def usage(self, usage: Usage) -> bytes:
        return b"data: " + self._head + b',"choices":[],"usage":' + dumps(usage_json(usage)) + b"}\n\n"
