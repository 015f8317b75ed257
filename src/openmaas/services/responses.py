"""Stored responses: the Responses API's conversations, kept for their owner and for a while.

A response made with `store` is saved with its input items and its output once it is complete (or
incomplete at its token limit); a failed or abandoned one is not. `previous_response_id` continues a
conversation: the context is every stored response of the chain, oldest first, each one's input items
followed by its output items. Each response and each link must belong to the caller and be within the
retention; otherwise the id is unknown to the caller (404), whoever else it may belong to.

Retention: responses are deleted `response_retention_hours` after they were created. Reads ignore older
ones at once; a sweep in each API process deletes them every quarter of the retention, at most hourly
(several processes sweeping is harmless: the deletion is idempotent). A conversation continues only while
all of its responses are kept, so an old conversation ends when its first response expires.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from openmaas.domain.accounts import Caller
from openmaas.domain.errors import NotFound
from openmaas.domain.responses import StoredResponse
from openmaas.periodic import Periodic, retention_interval
from openmaas.store.base import ResponseStore

log = logging.getLogger(__name__)

#: The most responses one conversation may chain (a guard on the size of the context read back).
MAX_CHAIN = 1000


class ResponseService:
    def __init__(self, store: ResponseStore, retention_hours: float) -> None:
        self.store = store
        self.retention = timedelta(hours=retention_hours)
        self._sweeper = Periodic(
            "deleting expired responses", self._sweep_logged, retention_interval(self.retention)
        )

    def _since(self) -> datetime:
        return datetime.now(UTC) - self.retention

    async def context(self, caller: Caller, previous_id: str) -> list[dict[str, Any]]:
        """The items of the conversation up to and including the response `previous_id`, oldest first."""
        chain = await self.store.response_chain(
            previous_id, caller.user.id, since=self._since(), limit=MAX_CHAIN
        )
        if not chain:
            raise NotFound(
                f"Previous response with id {previous_id!r} not found.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        missing = chain[-1].previous_response_id
        if missing is not None:
            reason = (
                f"is longer than {MAX_CHAIN} responses"
                if len(chain) == MAX_CHAIN
                else f"refers to the response {missing!r}, which was deleted or has expired"
            )
            raise NotFound(
                f"The conversation of {previous_id!r} {reason}.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        items: list[dict[str, Any]] = []
        for response in reversed(chain):
            items += response.input_items
            items += response.output
        return items

    async def save(self, caller: Caller, body: dict[str, Any], input_items: list[dict[str, Any]]) -> None:
        await self.store.add_response(
            StoredResponse(
                id=body["id"],
                user_id=caller.user.id,
                model=body["model"],
                previous_response_id=body.get("previous_response_id"),
                input_items=input_items,
                body=body,
                created_at=datetime.now(UTC),
            )
        )

    async def get(self, caller: Caller, response_id: str) -> StoredResponse:
        found = await self.store.get_response(response_id, caller.user.id, since=self._since())
        if found is None:
            raise NotFound(f"Response with id {response_id!r} not found.", code="response_not_found")
        return found

    async def delete(self, caller: Caller, response_id: str) -> None:
        await self.get(caller, response_id)  # an expired response is gone too, even before the sweep
        if not await self.store.delete_response(response_id, caller.user.id):
            raise NotFound(f"Response with id {response_id!r} not found.", code="response_not_found")

    async def sweep(self) -> int:
        """Delete the responses past their retention; returns how many."""
        return await self.store.delete_responses_created_before(self._since())

    def start(self) -> None:
        self._sweeper.start()

    async def close(self) -> None:
        await self._sweeper.stop()

    async def _sweep_logged(self) -> None:
        removed = await self.sweep()
        if removed:
            log.info("deleted expired responses", extra={"responses": removed})
