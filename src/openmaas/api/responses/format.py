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
from dataclasses import dataclass, field
from typing import Any

import orjson

from openmaas.api.responses.output import Event, OutputBuilder
from openmaas.domain.chat import Usage
from openmaas.domain.errors import OpenMaaSError


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


def error_json(error: OpenMaaSError) -> dict[str, Any]:
    code = "invalid_prompt" if error.kind == "invalid_request" else "server_error"
    return {"code": code, "message": error.message}


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
            "error": error_json(error) if error is not None else None,
            "incomplete_details": incomplete,
            "model": self.model,
            "output": list(self.output.items) if status != "in_progress" else [],
            **self.settings,
            "usage": usage_json(usage, self.output.reasoning_pieces) if usage is not None else None,
        }

    @property
    def final_status(self) -> str:
        return "incomplete" if self.output.finish.reason == "length" else "completed"


class StreamEncoder:
    """Numbers a response's events and encodes them as SSE."""

    def __init__(self) -> None:
        self._sequence = 0

    def encode(self, event: Event) -> bytes:
        event["sequence_number"] = self._sequence
        self._sequence += 1
        return b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"

    def encode_all(self, events: list[Event]) -> bytes:
        return b"".join(self.encode(e) for e in events)

    def lifecycle(self, kind: str, body: dict[str, Any]) -> bytes:
        return self.encode({"type": kind, "response": body})
