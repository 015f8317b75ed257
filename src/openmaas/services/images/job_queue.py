"""The queue between task submission and the workers: which task a worker should run next, bounded.

The store holds the tasks themselves; the queue only carries their ids to workers, and refuses new work
when too much waits (503 with Retry-After) so the backlog stays bounded. A worker claims a task in the
store (PENDING → RUNNING) before it runs it, so an id queued twice, or queued and then cancelled, runs
at most once.

- `LocalTaskQueue` (the embedded default): an in-process queue feeding this process's own workers
  (`local_workers.py`), recovered from the store at start-up.
- `SharedTaskQueue` (`shared_queue.py`): a durable queue in PostgreSQL that image workers on any
  machine take tasks from, with leases; selected by `image_queue = "shared"`.
"""

from __future__ import annotations

import abc
import asyncio
from collections import deque
from collections.abc import Callable, Iterable

from openmaas.domain.errors import Overloaded
from openmaas.domain.tasks import TaskRecord


def queue_full(waiting: int, retry_after: int) -> Overloaded:
    return Overloaded(
        f"Too many image tasks are waiting ({waiting}); retry in {retry_after} s.", retry_after=retry_after
    )


class TaskQueue(abc.ABC):
    async def open(self) -> None:  # noqa: B027 - the in-process queue has nothing to connect to
        """Connect (at start-up)."""

    async def close(self) -> None:  # noqa: B027
        """Disconnect."""

    @abc.abstractmethod
    async def submit(self, task: TaskRecord) -> None:
        """Queue a new (stored, PENDING) task, or raise `Overloaded` (503 with Retry-After) when full."""

    @abc.abstractmethod
    def depth(self) -> int:
        """How many tasks wait (for metrics; may be approximate)."""


class LocalTaskQueue(TaskQueue):
    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._ids: deque[str] = deque()
        self._ready = asyncio.Condition()
        #: Seconds until the queue has room again (set by the workers, who know their pace).
        self.estimate_retry_after: Callable[[], int] = lambda: 1

    async def submit(self, task: TaskRecord) -> None:
        if len(self._ids) >= self.max_size:
            raise queue_full(len(self._ids), self.estimate_retry_after())
        await self._push([task.id])

    async def restore(self, task_ids: Iterable[str]) -> None:
        """Queue the tasks found unfinished at start-up, in order, whatever the bound (they were
        accepted before the restart)."""
        await self._push(task_ids)

    async def _push(self, task_ids: Iterable[str]) -> None:
        async with self._ready:
            self._ids.extend(task_ids)
            self._ready.notify_all()

    async def take(self) -> str:
        """The next task id; waits until there is one."""
        async with self._ready:
            await self._ready.wait_for(lambda: bool(self._ids))
            return self._ids.popleft()

    def depth(self) -> int:
        return len(self._ids)
