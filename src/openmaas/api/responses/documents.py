"""What `/openapi.json` says the Responses API's routes answer (the routes build their JSON directly)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class ResponseUsage(BaseModel):
    input_tokens: int
    output_tokens: int
    total_tokens: int
    input_tokens_details: dict[str, Any] | None = None
    output_tokens_details: dict[str, Any] | None = None


class ResponseObject(BaseModel):
    """A response. With `stream: true` the answer is `text/event-stream` instead: `response.*` events,
    each with its `sequence_number`, ending with `response.completed`, `response.incomplete` or
    `response.failed`."""

    id: str
    object: Literal["response"]
    created_at: int
    status: Literal["completed", "incomplete", "failed", "in_progress"]
    model: str
    output: list[dict[str, Any]]
    usage: ResponseUsage | None = None


class DeletedResponse(BaseModel):
    id: str
    object: Literal["response"]
    deleted: Literal[True]


class InputItemList(BaseModel):
    object: Literal["list"]
    data: list[dict[str, Any]]
    first_id: str | None
    last_id: str | None
    has_more: bool
