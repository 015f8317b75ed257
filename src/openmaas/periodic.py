"""Background work that runs a step every few seconds until it is stopped: a worker's heartbeat, the API
tier's reading of the worker directory, the retention clean-ups.

`stop` does not cancel the loop: it asks it to end and waits for the step in progress. A cancellation
that lands inside a client library can be swallowed there (seen with redis-py under load: a worker's
heartbeat, cancelled at shutdown, went on renewing its registration, and the process never exited). A
flag checked between steps cannot be lost. Only a step that outlasts `STOP_SECONDS` is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

log = logging.getLogger(__name__)

#: How long `stop` waits for the step in progress.
STOP_SECONDS = 10.0


def retention_interval(retention: timedelta) -> float:
    """How often a retention clean-up runs: every quarter of the retention, at most hourly."""
    return min(3600.0, retention.total_seconds() / 4)


class Periodic:
    def __init__(
        self, name: str, step: Callable[[], Awaitable[object]], interval: float, *, first_after: float = 0.0
    ) -> None:
        """`step` runs `first_after` seconds after `start`, then every `interval` seconds; a step that
        fails is logged (as "`name` failed") and the next one runs on time."""
        self.name = name
        self._step = step
        self.interval = interval
        self._first_after = first_after
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """End the loop after the step in progress. A step that takes more than `STOP_SECONDS` is
        cancelled; one that ignores that too is left behind after as long again."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        done, _ = await asyncio.wait({task}, timeout=STOP_SECONDS)
        if not done:
            log.warning("%s did not stop within %s s; cancelling it", self.name, STOP_SECONDS)
            task.cancel()
            await asyncio.wait({task}, timeout=STOP_SECONDS)

    async def _run(self) -> None:
        pause = self._first_after
        while not await self._stopped_within(pause):
            try:
                await self._step()
            except Exception:
                log.exception("%s failed", self.name)
            pause = self.interval

    async def _stopped_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return self._stopping.is_set()
