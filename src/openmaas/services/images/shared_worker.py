"""An image worker of the scaled-out mode: takes tasks for its models from the shared queue and runs them.

It runs inside `openmaas worker` when the worker's registry has image models. Each worker:

- runs up to `image_workers` tasks at once from its models' queues in the shared job queue
  (`openmaas.store.base.JobQueue`), renewing its lease there every fifth of `image_lease_seconds`;
- every third of the lease, recovers what dead workers left: jobs of workers whose lease lapsed go
  back to their queue (their tasks are then taken over, or end FAILED after `image_max_attempts`
  runs), and PENDING tasks that lost their job are queued again. Every live worker does it; the
  database's compare-and-sets make doing it twice harmless;
- deletes expired tasks and their files (`TaskRetention`);
- at a clean stop, puts its running tasks back in the queue without counting the attempt.
"""

from __future__ import annotations

import asyncio
import logging

from openmaas.services.images.job_retention import TaskRetention
from openmaas.services.images.job_runner import Outcome, TaskRunner
from openmaas.services.images.shared_queue import SharedTaskQueue

log = logging.getLogger(__name__)
STOP_TIMEOUT = 30.0


class SharedImageWorker:
    def __init__(
        self,
        *,
        queue: SharedTaskQueue,
        runner: TaskRunner,
        retention: TaskRetention,
        models: list[str],
        concurrency: int,
        lease_seconds: float,
        name: str,
    ) -> None:
        self.queue = queue
        self.runner = runner
        self.retention = retention
        self.models = models
        self.concurrency = concurrency
        self.lease = lease_seconds
        self.name = name
        self._tasks: list[asyncio.Task[None]] = []
        self._cleaner = retention.periodic()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._consume(), name="image-queue-consumer"),
            loop.create_task(self._recover_forever(), name="image-queue-recovery"),
        ]
        self._cleaner.start()

    async def close(self) -> None:
        """Running jobs stop at their next step and go back to the queue; then the worker leaves."""
        self.runner.stop_all()
        consumer, *others = self._tasks
        for task in others:
            task.cancel()
        consumer.cancel()  # the job queue waits for the running jobs, which now end at once
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._cleaner.stop()

    async def _consume(self) -> None:
        await self.queue.jobs.work(
            self._job,
            models=self.models,
            name=self.name,
            concurrency=self.concurrency,
            lease_seconds=self.lease,
            stop_timeout=STOP_TIMEOUT,
        )

    async def _job(self, task_id: str, model: str) -> None:
        outcome = await self.runner.run(task_id, take_over=True)
        if outcome is Outcome.REQUEUED:
            await self.queue.jobs.defer(task_id, model)

    async def _recover_forever(self) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                await self.recover()
            except Exception:
                log.exception("could not recover interrupted image tasks")

    async def recover(self) -> None:
        """Put back the jobs of dead workers, and queue PENDING tasks that have no job."""
        for task_id in await self.queue.jobs.requeue_stalled(self.lease):
            log.info("requeued the job of a dead image worker", extra={"task_id": task_id})
        for task_id, model in await self.queue.jobs.orphaned_tasks(older_than=self.lease):
            await self.queue.jobs.defer(task_id, model)
            log.info("queued an image task that had lost its job", extra={"task_id": task_id})
