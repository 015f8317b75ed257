"""The embedded server's own image workers: loops that take task ids from the in-process queue and run
them with a `TaskRunner` (see `job_runner.py`).

At a clean stop, running jobs stop at their next step and go back to PENDING without counting the
attempt; they run again after the restart.
"""

from __future__ import annotations

import asyncio
import logging
import math

from openmaas.services.images.job_queue import LocalTaskQueue
from openmaas.services.images.job_runner import TaskRunner

log = logging.getLogger(__name__)
STOP_TIMEOUT = 30.0


class ImageWorkers:
    def __init__(self, queue: LocalTaskQueue, runner: TaskRunner) -> None:
        self.queue = queue
        self.runner = runner
        self._loops: list[asyncio.Task[None]] = []
        self._busy: set[asyncio.Task[None]] = set()  # loops running a task (not waiting for one)
        self._closing = False
        queue.estimate_retry_after = self.retry_after

    def start(self, count: int) -> None:
        loop = asyncio.get_running_loop()
        self._loops = [loop.create_task(self._work(), name=f"image-worker-{i}") for i in range(count)]

    def retry_after(self) -> int:
        """Seconds until the queue has room again, roughly: for a full queue's 503."""
        workers = max(1, len(self._loops))
        estimate = self.runner.average_seconds * self.queue.depth() / workers
        return max(1, min(3600, math.ceil(estimate)))

    async def close(self) -> None:
        """Stop: running jobs stop at their next step and go back to PENDING; nothing new starts."""
        self._closing = True
        self.runner.stop_all()
        for idle in set(self._loops) - self._busy:
            idle.cancel()
        if self._busy:
            await asyncio.wait(self._busy, timeout=STOP_TIMEOUT)
        for loop_task in self._loops:
            loop_task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)

    async def _work(self) -> None:
        while not self._closing:
            task_id = await self.queue.take()
            if self._closing:
                return  # still PENDING in the store: it runs after the restart
            current = asyncio.current_task()
            assert current is not None
            self._busy.add(current)
            try:
                await self.runner.run(task_id)
            except Exception:
                log.exception("image worker error", extra={"task_id": task_id})
            finally:
                self._busy.discard(current)
