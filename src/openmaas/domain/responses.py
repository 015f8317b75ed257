"""A stored response of the Responses API: what one call was given and what it answered, kept for its
owner so that a later call can continue from it (`previous_response_id`) and the owner can read it back.

`input_items` and `body` are JSON in the Responses API's own item shapes (the store keeps them as they go
over the wire, so reading one back needs no translation); `body` is the whole `response` object, its
`output` items included. A conversation is a chain of responses linked by `previous_response_id`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class StoredResponse:
    id: str
    user_id: int
    model: str
    previous_response_id: str | None
    #: This call's own input items (not those of the responses before it), each with its `id`.
    input_items: list[dict[str, Any]]
    #: The `response` object as the client received it.
    body: dict[str, Any]
    created_at: datetime

    @property
    def output(self) -> list[dict[str, Any]]:
        output: list[dict[str, Any]] = self.body.get("output") or []
        return output
