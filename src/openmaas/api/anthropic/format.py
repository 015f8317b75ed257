"""Chat answers in Anthropic's shapes: the `message` object and its SSE event sequence.

The stream is built from the internal event stream: consecutive events of one kind (text, thinking,
one tool call) form a content block; a change of kind closes the block and opens the next. The event
order is `message_start`, `content_block_start`, `ping`, `content_block_delta`…, `content_block_stop`
(per block), `message_delta` (stop reason, usage), `message_stop`.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from openmaas.api.anthropic.errors import anthropic_error
from openmaas.api.wire import dumps
from openmaas.domain.chat import ChatEvent, Finish, ReasoningDelta, TextDelta, ToolCallDelta, Usage
from openmaas.domain.errors import OpenMaaSError
from openmaas.services.chat import ChatCall, ChatResult, Choice, ChoiceResult


def message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def stop_reason(finish: Finish) -> str:
    if finish.reason == "length":
        return "max_tokens"
    if finish.reason == "tool_calls":
        return "tool_use"
    return "stop_sequence" if finish.stop_sequence is not None else "end_turn"


def _tool_input(arguments: str) -> dict[str, Any]:
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def content_blocks(choice: ChoiceResult) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if choice.reasoning_content is not None:
        blocks.append({"type": "thinking", "thinking": choice.reasoning_content, "signature": ""})
    if choice.content or not choice.calls:
        blocks.append({"type": "text", "text": choice.content})
    blocks.extend(
        {"type": "tool_use", "id": call.id, "name": call.name, "input": _tool_input(call.arguments)}
        for call in choice.calls
    )
    return blocks


def message_body(result: ChatResult, *, message: str, model: str) -> dict[str, Any]:
    choice = result.choices[0]
    return {
        "id": message,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content_blocks(choice),
        "stop_reason": stop_reason(choice.finish),
        "stop_sequence": choice.finish.stop_sequence,
        "usage": {
            "input_tokens": result.usage.prompt_tokens,
            "output_tokens": result.usage.completion_tokens,
        },
    }


def _sse(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + dumps(data) + b"\n\n"


class EventEncoder:
    """Encodes one streamed answer as Anthropic SSE events, opening and closing content blocks (a
    `StreamEncoder`, see `openmaas.api.sse`); a failure is an `error` event."""

    end = b""

    def __init__(self, *, message: str, model: str) -> None:
        self.message = message
        self.model = model
        self._index = -1
        self._open: str | None = None  # "text", "thinking", or "tool:<n>"
        self._pinged = False
        self.finish = Finish("stop")

    async def opening(self, call: ChatCall) -> bytes:
        """`message_start`, with the prompt's tokens counted."""
        return self._start(await call.count_prompt_tokens())

    def _start(self, input_tokens: int) -> bytes:
        return _sse(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": self.message,
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": input_tokens, "output_tokens": 0},
                },
            },
        )

    def _switch(self, kind: str, block: dict[str, Any]) -> bytes:
        out = self._close()
        self._index += 1
        self._open = kind
        out += _sse(
            "content_block_start",
            {"type": "content_block_start", "index": self._index, "content_block": block},
        )
        if not self._pinged:
            self._pinged = True
            out += _sse("ping", {"type": "ping"})
        return out

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        return _sse("content_block_stop", {"type": "content_block_stop", "index": self._index})

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return _sse(
            "content_block_delta", {"type": "content_block_delta", "index": self._index, "delta": delta}
        )

    def event(self, choice: Choice) -> bytes:
        event: ChatEvent = choice[1]
        if isinstance(event, TextDelta):
            out = b"" if self._open == "text" else self._switch("text", {"type": "text", "text": ""})
            return out + self._delta({"type": "text_delta", "text": event.text})
        if isinstance(event, ReasoningDelta):
            out = (
                b""
                if self._open == "thinking"
                else self._switch("thinking", {"type": "thinking", "thinking": "", "signature": ""})
            )
            return out + self._delta({"type": "thinking_delta", "thinking": event.text})
        if isinstance(event, ToolCallDelta):
            kind = f"tool:{event.index}"
            out = b""
            if self._open != kind:
                block = {"type": "tool_use", "id": event.id or "", "name": event.name or "", "input": {}}
                out = self._switch(kind, block)
            if event.arguments:
                out += self._delta({"type": "input_json_delta", "partial_json": event.arguments})
            return out
        if isinstance(event, Finish):
            self.finish = event
        return b""

    async def closing(self, call: ChatCall) -> bytes:
        return self._end(call.usage)

    def _end(self, usage: Usage) -> bytes:
        out = (
            self._close()
            if self._index >= 0
            else self._switch("text", {"type": "text", "text": ""}) + self._close()
        )
        out += _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {
                    "stop_reason": stop_reason(self.finish),
                    "stop_sequence": self.finish.stop_sequence,
                },
                "usage": {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens},
            },
        )
        return out + _sse("message_stop", {"type": "message_stop"})

    def failure(self, error: OpenMaaSError) -> bytes:
        return _sse("error", {"type": "error", "error": anthropic_error(error)})
