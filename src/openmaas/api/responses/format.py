"""The `response` object and its SSE stream.

A response is `in_progress` while it streams, then `completed`, or `incomplete` when it stopped at
`max_output_tokens`, or `failed` when the engine failed after the stream began. The stream is
`response.created`, `response.in_progress`, the output items' events (see `output.py`), then
`response.completed` (or `response.incomplete` / `response.failed`) carrying the whole response; every
event has a `sequence_number` counting from 0, and is sent as `event: <type>` + `data: {...}`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from openmaas.api.responses.errors import response_error
from openmaas.api.responses.output import Event, OutputBuilder
from openmaas.domain.chat import Usage
from openmaas.domain.errors import OpenMaaSError
from openmaas.services.chat import ChatCall, Choice

#: How a response made with `store` is kept once it is finished.
Saver = Callable[[dict[str, Any]], Awaitable[None]]


def response_id() -> str:
    return f"resp_{uuid.uuid4().hex}"


def usage_json(usage: Usage, reasoning_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": min(reasoning_tokens, usage.completion_tokens)},
        "total_tokens": usage.total_tokens,
    }


@dataclass
class ResponseDraft:
    """One response being made: its identity, the request's settings it repeats, and its output."""

    model: str
    settings: dict[str, Any]
    id: str = field(default_factory=response_id)
    created_at: int = field(default_factory=lambda: int(time.time()))
    output: OutputBuilder = field(default_factory=OutputBuilder)

    def body(
        self,
        status: str,
        *,
        usage: Usage | None = None,
        error: OpenMaaSError | None = None,
    ) -> dict[str, Any]:
        finished = status in ("completed", "incomplete")
        incomplete = {"reason": "max_output_tokens"} if status == "incomplete" else None
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "completed_at": int(time.time()) if finished else None,
            "background": False,
            "error": response_error(error) if error is not None else None,
            "incomplete_details": incomplete,
            "model": self.model,
            "output": list(self.output.items) if status != "in_progress" else [],
            **self.settings,
            "usage": usage_json(usage, self.output.reasoning_pieces) if usage is not None else None,
        }

    @property
    def final_status(self) -> str:
        return "incomplete" if self.output.finish.reason == "length" else "completed"


class ResponseEncoder:
    """Encodes one streamed response as numbered SSE events (a `StreamEncoder`, see
    `openmaas.api.sse`); a finished response is saved, when it is stored, before the client hears of
    it, so it can continue from it at once."""

    end = b""

    def __init__(self, draft: ResponseDraft, save: Saver | None) -> None:
        self.draft = draft
        self.save = save
        self._sequence = 0

    async def opening(self, call: ChatCall) -> bytes:
        in_progress = self.draft.body("in_progress")
        return self._lifecycle("response.created", in_progress) + self._lifecycle(
            "response.in_progress", in_progress
        )

    def event(self, choice: Choice) -> bytes:
        return self._encode_all(self.draft.output.add(choice[1]))

    async def closing(self, call: ChatCall) -> bytes:
        closing = self.draft.output.close()
        status = self.draft.final_status
        response = self.draft.body(status, usage=call.usage)
        if self.save is not None:
            await self.save(response)
        return self._encode_all(closing) + self._lifecycle(f"response.{status}", response)

    def failure(self, error: OpenMaaSError) -> bytes:
        return self._lifecycle("response.failed", self.draft.body("failed", error=error))

    def _encode(self, event: Event) -> bytes:
        event["sequence_number"] = self._sequence
        self._sequence += 1
        return b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"

    def _encode_all(self, events: list[Event]) -> bytes:
        return b"".join(self._encode(e) for e in events)

    def _lifecycle(self, kind: str, body: dict[str, Any]) -> bytes:
        return self._encode({"type": kind, "response": body})
