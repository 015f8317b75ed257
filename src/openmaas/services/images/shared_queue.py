"""The shared image-task queue: the bounded queue of the scaled-out mode, over the store's shared job
queue (`openmaas.store.base.JobQueue`, on PostgreSQL), that feeds image workers on any number of
machines (`shared_worker.py`).

A submission stores its task PENDING, then queues one job for it. The bound counts PENDING tasks in the
task store (approximate by at most the submissions in flight at once); a full queue answers 503 with a
Retry-After from the workers' pace of the last minutes.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from openmaas.domain.tasks import TaskRecord
from openmaas.services.images.job_queue import TaskQueue, queue_full
from openmaas.store.base import JobQueue, TaskStore

_PACE_WINDOW = timedelta(minutes=2)


class SharedTaskQueue(TaskQueue):
    def __init__(self, jobs: JobQueue, tasks: TaskStore, *, max_size: int) -> None:
        self.jobs = jobs
        self.tasks = tasks
        self.max_size = max_size
        self._depth = 0

    async def open(self) -> None:
        await self.jobs.open()

    async def close(self) -> None:
        await self.jobs.close()

    async def submit(self, task: TaskRecord) -> None:
        waiting = await self.tasks.pending_count() - 1  # the task itself is stored PENDING already
        self._depth = waiting + 1
        if waiting >= self.max_size:
            raise queue_full(waiting, await self._retry_after(waiting))
        await self.jobs.defer(task.id, task.model)

    async def _retry_after(self, waiting: int) -> int:
        """Seconds for the workers to work through the queue at their pace of the last minutes."""
        finished = await self.tasks.finished_count(datetime.now(UTC) - _PACE_WINDOW)
        if finished == 0:
            return 30  # no recent pace to go by
        per_second = finished / _PACE_WINDOW.total_seconds()
        return max(1, min(3600, math.ceil(waiting / per_second)))

    def depth(self) -> int:
        """PENDING tasks at the last submission (the API process does not poll the database for it)."""
        return self._depth
