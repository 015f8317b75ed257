"""Running one image task, in whichever process holds the engines: the embedded server's own workers
(`local_workers.py`) or an image worker on another machine fed by the shared queue (`shared_queue.py`).

A run claims its task in the store (PENDING → RUNNING, one more attempt) — or takes over a RUNNING one
whose worker died (`take_over`) — runs the engine, writes the PNGs, and ends the task SUCCEED (the call
is settled) or FAILED (the call is given back). Every change it makes is fenced with its attempt number,
so a run that was taken for dead and taken over can no longer change the task, and its files (named by
attempt) are its own to delete.

While the engine runs, a `RunningJob` carries progress out of the engine thread into the store (at most a
few writes a second) and cancellation in: the owner's DELETE (seen here directly, or as a progress write
that finds the task no longer RUNNING when it was cancelled from another process), or the worker
stopping — then the task goes back to PENDING without counting the attempt.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import threading
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram

from openmaas.domain.errors import EngineFailure, NotFound, OpenMaaSError, Overloaded
from openmaas.domain.images import ImageJob, JobCancelled
from openmaas.domain.tasks import TaskError, TaskRecord, TaskStatus
from openmaas.engines.base import ImageEngine
from openmaas.engines.manager import EngineManager
from openmaas.services.admission import IMAGE
from openmaas.services.images.job_quota import TaskQuota
from openmaas.store.base import TaskStore
from openmaas.store.files import TaskFiles

log = logging.getLogger(__name__)
PROGRESS_INTERVAL = 0.25  # seconds between progress writes of one task


class Outcome(enum.Enum):
    ENDED = "ended"  # SUCCEED or FAILED (by this run, or by the owner while it ran)
    REQUEUED = "requeued"  # back to PENDING: the worker is stopping
    SKIPPED = "skipped"  # not this run's to do: cancelled while queued, or another run has it


class RunningJob:
    """The link between one running job's engine thread and the event loop."""

    def __init__(self, task: TaskRecord, tasks: TaskStore, loop: asyncio.AbstractEventLoop) -> None:
        self.task_id = task.id
        self.attempt = task.attempts
        self.tasks = tasks
        self.loop = loop
        self.cancelled = threading.Event()
        self.stopping = False
        self._latest = 0.0
        self._last_write = 0.0
        self._writer: asyncio.Task[None] | None = None

    def cancel(self, *, stopping: bool = False) -> None:
        self.stopping = self.stopping or stopping
        self.cancelled.set()

    def report(self, done: int, total: int) -> None:
        """The engine's progress callback (engine thread)."""
        if self.cancelled.is_set():
            raise JobCancelled(self.task_id)
        self.loop.call_soon_threadsafe(self._progress, min(1.0, done / max(total, 1)))

    def _progress(self, fraction: float) -> None:
        self._latest = max(self._latest, fraction)
        writing = self._writer is not None and not self._writer.done()
        if not writing and time.monotonic() - self._last_write >= PROGRESS_INTERVAL:
            self._last_write = time.monotonic()
            self._writer = self.loop.create_task(self._write(self._latest))

    async def _write(self, fraction: float) -> None:
        try:
            if not await self.tasks.report_progress(self.task_id, fraction, attempt=self.attempt):
                self.cancel()  # no longer this run's: cancelled or taken over elsewhere
        except Exception:
            log.warning("could not record progress", extra={"task_id": self.task_id}, exc_info=True)

    async def settle(self) -> None:
        """Wait for a progress write still in flight, so it cannot land after the task's end."""
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)


class TaskRunner:
    def __init__(
        self,
        *,
        tasks: TaskStore,
        engines: EngineManager,
        outputs: TaskFiles,
        quota: TaskQuota,
        collector_registry: CollectorRegistry,
        max_attempts: int,
        on_finished: Callable[[str], None] = lambda task_id: None,
    ) -> None:
        self.tasks = tasks
        self.engines = engines
        self.outputs = outputs
        self.quota = quota
        self.max_attempts = max_attempts
        self.on_finished = on_finished
        self.running: dict[str, RunningJob] = {}
        self.average_seconds = 5.0
        self._stopping = False
        self._ended = Counter(
            "openmaas_image_tasks",
            "Image tasks ended, by status",
            ["model", "status"],
            registry=collector_registry,
        )
        self._duration = Histogram(
            "openmaas_image_task_seconds",
            "Run time of successful image tasks",
            ["model"],
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
            registry=collector_registry,
        )

    def cancel(self, task_id: str) -> None:
        job = self.running.get(task_id)
        if job is not None:
            job.cancel()

    def stop_all(self) -> None:
        """The worker is stopping: running jobs stop at their next step and go back to PENDING, and
        tasks handed over from now on are left PENDING (`Outcome.REQUEUED`)."""
        self._stopping = True
        for job in list(self.running.values()):
            job.cancel(stopping=True)

    async def run(self, task_id: str, *, take_over: bool = False) -> Outcome:
        """Run the task if it is PENDING, or, with `take_over`, if it is RUNNING in a dead run."""
        if self._stopping:
            return Outcome.REQUEUED
        task = await self.tasks.claim_task(task_id)
        if task is None and take_over:
            task = await self._take_over(task_id)
        if task is None:
            return Outcome.SKIPPED
        job = self.running[task_id] = RunningJob(task, self.tasks, asyncio.get_running_loop())
        started = time.monotonic()
        try:
            images = await self._generate(task, job)
            await job.settle()
            if images is not None:
                await self._succeed(task, images, time.monotonic() - started)
            elif job.stopping:
                requeued = await self.tasks.requeue_task(task.id, count_attempt=False, attempt=task.attempts)
                return Outcome.REQUEUED if requeued else Outcome.ENDED
            return Outcome.ENDED
        finally:
            del self.running[task_id]

    async def _take_over(self, task_id: str) -> TaskRecord | None:
        task = await self.tasks.get_task(task_id)
        if task is None or task.status is not TaskStatus.RUNNING:
            return None
        if task.attempts >= self.max_attempts:
            await self.give_up(task)
            return None
        log.info("taking over an interrupted image task", extra={"task_id": task_id})
        return await self.tasks.take_over_task(task_id, attempts=task.attempts)

    async def give_up(self, task: TaskRecord) -> None:
        """End a task whose runs were interrupted `max_attempts` times; its call is given back."""
        error = TaskError(
            "interrupted",
            f"The worker running this task stopped {task.attempts} times; it was not run again.",
        )
        ended = await self.tasks.end_task(
            task.id, TaskStatus.FAILED, expect=[TaskStatus.RUNNING], error=error, attempt=task.attempts
        )
        if ended is not None:
            await self.outputs.delete_input(task.id)
            await self.quota.refund(ended)
            self._ended.labels(task.model, TaskStatus.FAILED.value).inc()
            self.on_finished(task.id)

    async def _generate(self, task: TaskRecord, job: RunningJob) -> list[bytes] | None:
        """The images, or None when the task ended otherwise (failed, cancelled, worker stopping)."""
        try:
            init_image = await self.outputs.read(task.input_key) if task.input_key else None
            engine = await self._engine(task.model, job)
            return await engine.generate(ImageJob.from_params(task.params, init_image), job.report)
        except JobCancelled:
            return None
        except OpenMaaSError as exc:
            await self._fail(task, TaskError(exc.code or exc.kind, exc.message))
        except Exception:
            log.exception("image task failed", extra={"task_id": task.id, "model": task.model})
            await self._fail(task, TaskError("internal", "The task failed on the server; see its log."))
        return None

    async def _engine(self, model: str, job: RunningJob) -> ImageEngine:
        """The model's engine, waiting while it loads (a task may be recovered before its model is up)."""
        while True:
            if job.cancelled.is_set():
                raise JobCancelled(job.task_id)
            try:
                engine = await self.engines.engine(model)
            except Overloaded:
                await asyncio.sleep(0.5)
                continue
            except NotFound:
                raise EngineFailure(f"The model {model!r} is no longer served here.") from None
            return IMAGE.engine_of(engine)

    async def _succeed(self, task: TaskRecord, images: list[bytes], seconds: float) -> None:
        keys = await self.outputs.save_outputs(task.id, task.attempts, images)
        done = await self.tasks.end_task(
            task.id, TaskStatus.SUCCEED, expect=[TaskStatus.RUNNING], outputs=keys, attempt=task.attempts
        )
        if done is None:  # cancelled or taken over at the last moment: these files are not wanted
            await self.outputs.delete_keys(keys)
            return
        await self.outputs.delete_input(task.id)
        self.average_seconds = 0.8 * self.average_seconds + 0.2 * seconds
        self._ended.labels(task.model, TaskStatus.SUCCEED.value).inc()
        self._duration.labels(task.model).observe(seconds)
        self.on_finished(task.id)

    async def _fail(self, task: TaskRecord, error: TaskError) -> None:
        running = [TaskStatus.RUNNING]
        done = await self.tasks.end_task(
            task.id, TaskStatus.FAILED, expect=running, error=error, attempt=task.attempts
        )
        if done is not None:
            await self.outputs.delete_input(task.id)
            await self.quota.refund(done)
            self._ended.labels(task.model, TaskStatus.FAILED.value).inc()
            self.on_finished(task.id)
