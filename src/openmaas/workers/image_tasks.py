"""The image half of an engine worker: its image models take tasks from the shared queue.

An `openmaas worker` whose registry has image models opens what a task needs — the task store
(PostgreSQL), the quota counters (Redis, to give back the call of a task that fails), the outputs
(object storage) and the shared queue — and runs a `SharedImageWorker` over the engines the worker
loaded. Its image models are registered in the worker directory with its chat models, so API processes
list them and accept tasks for them while the worker lives. API processes never load them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from prometheus_client import CollectorRegistry

from openmaas.access.clock import QuotaDay
from openmaas.access.metering import Metering
from openmaas.engines.manager import EngineManager
from openmaas.services.images.job_quota import TaskQuota
from openmaas.services.images.job_retention import TaskRetention
from openmaas.services.images.job_runner import TaskRunner
from openmaas.services.images.shared_queue import SharedTaskQueue
from openmaas.services.images.shared_worker import SharedImageWorker
from openmaas.settings import Settings
from openmaas.store.backends import job_queue, open_stores, task_files

log = logging.getLogger(__name__)


def image_worker_problem(settings: Settings, models: list[str]) -> str | None:
    """Why this worker cannot take tasks for its image models, or None when it can."""
    named = f"the image models {', '.join(models)} take tasks from the shared queue"
    drop = "; or drop them from the worker's registry (`include_builtin = false` drops the built-in demo)"
    if not settings.shared_image_queue:
        return f"{named}: give a PostgreSQL --database-url and --redis-url{drop}"
    if settings.s3_bucket is None:
        return f"{named} and write their outputs to object storage: set OPENMAAS_S3_BUCKET{drop}"
    return None


class ImageTaskWorker:
    def __init__(self, settings: Settings, engines: EngineManager, models: list[str], name: str) -> None:
        self.settings = settings
        self.engines = engines
        self.models = models
        self.name = name
        self._stack = contextlib.AsyncExitStack()
        self.consumer: SharedImageWorker | None = None
        self._starting: asyncio.Task[None] | None = None

    async def start(self) -> None:
        settings = self.settings
        try:
            stores = await open_stores(settings)
            self._stack.push_async_callback(stores.close)
            tasks = stores.tasks
            outputs = task_files(settings)
            self._stack.push_async_callback(outputs.close)
            await outputs.open()
            jobs = job_queue(settings, pool_size=settings.image_workers + 3)
            queue = SharedTaskQueue(jobs, tasks, max_size=settings.image_queue_size)
            await queue.open()
            self._stack.push_async_callback(queue.close)
        except BaseException:
            await self._stack.aclose()
            raise
        metering = Metering(stores.counter, stores.records, settings, QuotaDay(settings.zone))
        runner = TaskRunner(
            tasks=tasks,
            engines=self.engines,
            outputs=outputs,
            quota=TaskQuota(metering),
            collector_registry=CollectorRegistry(),
            max_attempts=settings.image_max_attempts,
        )
        retention = TaskRetention(tasks, outputs, settings.image_retention_hours)
        self._starting = asyncio.get_running_loop().create_task(self._consume(queue, runner, retention))

    async def _consume(self, queue: SharedTaskQueue, runner: TaskRunner, retention: TaskRetention) -> None:
        """Once the preloaded models are up, take tasks for those that loaded (a model that failed to
        load takes none: another worker may serve it)."""
        await self.engines.wait_ready()
        status = self.engines.status()
        models = [m for m in self.models if status.get(m) != "failed"]
        if not models:
            log.error(
                "no image model loaded; this worker takes no image tasks", extra={"models": self.models}
            )
            return
        self.consumer = SharedImageWorker(
            queue=queue,
            runner=runner,
            retention=retention,
            models=models,
            concurrency=self.settings.image_workers,
            lease_seconds=self.settings.image_lease_seconds,
            name=self.name,
        )
        await self.consumer.start()
        log.info("taking image tasks from the shared queue", extra={"models": models})

    def running(self) -> list[str]:
        """The ids of the image tasks running here now."""
        return sorted(self.consumer.runner.running) if self.consumer is not None else []

    async def close(self) -> None:
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
            await asyncio.gather(self._starting, return_exceptions=True)
        if self.consumer is not None:
            await self.consumer.close()
        await self._stack.aclose()
