"""Calls written to the usage ledger as they are reserved and given back, when the quota counters live
elsewhere (Redis): group-committed.

A call waits for its ledger row before it goes on, so that a process killed at any moment has counted
in the ledger every call its counters accepted. Calls that arrive while a write is being prepared share
it: one upsert per (user, day, model) for all of them. Under load that is one write per round trip to
the database instead of one per call; alone, a call pays one round trip.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date

from openmaas.store.base import RecordStore

Key = tuple[int, date, str]


@dataclass
class _Batch:
    done: asyncio.Future[None]
    calls: dict[Key, int] = field(default_factory=dict)
    writer: asyncio.Task[None] | None = None


class CallLedger:
    def __init__(self, ledger: RecordStore) -> None:
        self.ledger = ledger
        self._open: _Batch | None = None

    async def add(self, user_id: int, day: date, model: str, calls: int) -> None:
        """Add `calls` (1, or -1 for a call given back) to the ledger; return once it is written."""
        batch = self._open
        if batch is None:
            loop = asyncio.get_running_loop()
            batch = self._open = _Batch(loop.create_future())
            batch.writer = loop.create_task(self._write(batch))
        key = (user_id, day, model)
        batch.calls[key] = batch.calls.get(key, 0) + calls
        await asyncio.shield(batch.done)  # a caller that leaves does not stop the others' write

    async def _write(self, batch: _Batch) -> None:
        await asyncio.sleep(0)  # the calls of this turn of the loop join the batch
        self._open = None
        try:
            for (user_id, day, model), calls in batch.calls.items():
                if calls:
                    await self.ledger.record_usage(
                        user_id, day, model, calls=calls, prompt_tokens=0, completion_tokens=0
                    )
        except Exception as exc:
            batch.done.set_exception(exc)
        else:
            batch.done.set_result(None)
