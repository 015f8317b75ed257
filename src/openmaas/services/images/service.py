"""The image service: submit generation and edit tasks, read and cancel them, serve their outputs.

`submit` admits the call (`openmaas.services.admission`: 404 unknown model, 400 not an image model or
against its profile, 403 token scope, 503 while it loads or no worker serves it), fetches the image to
edit safely (400 with the reason), reserves one call of quota (429), stores the task and queues it (503
when the queue is full; the call is given back). Workers run it (`job_runner.py`); the call is settled
when it succeeds and given back when it fails on our side.

Two set-ups, by settings (see `Settings.shared_image_queue`):

- Embedded: an in-process queue and this process's own workers (`local_workers.py`). On start-up
  unfinished tasks are recovered: PENDING ones are queued again, RUNNING ones (their process died) run
  again, or end FAILED once they have been interrupted `image_max_attempts` times. Finished tasks and
  their files are deleted after `image_retention_hours` (`job_retention.py`).
- Scaled out: the shared queue (`shared_queue.py`); image workers on other machines run the tasks,
  recover them by lease and apply the retention (`shared_worker.py`). This process only submits,
  reads, cancels and hands out URLs; image models are those live workers registered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from prometheus_client import Gauge

from openmaas.domain.accounts import Caller
from openmaas.domain.errors import (
    InvalidRequest,
    NotFound,
    Overloaded,
)
from openmaas.domain.images import MAX_SEED, ImageJob, ImageProfile, ImageRequest, check_request
from openmaas.domain.models import ModelSpec
from openmaas.domain.tasks import IMAGE_GENERATION, TaskError, TaskRecord, TaskStatus
from openmaas.fetch import FetchedImage, FetchPolicy, ImageFetcher
from openmaas.metrics import Metrics
from openmaas.services.admission import IMAGE, Admission
from openmaas.services.images.job_queue import LocalTaskQueue, TaskQueue
from openmaas.services.images.job_quota import TaskQuota
from openmaas.services.images.job_retention import TaskRetention
from openmaas.services.images.job_runner import TaskRunner
from openmaas.services.images.local_workers import ImageWorkers
from openmaas.services.images.shared_queue import SharedTaskQueue
from openmaas.settings import Settings
from openmaas.store.backends import job_queue, task_files
from openmaas.store.base import TaskStore
from openmaas.store.files import LocalTaskFiles, TaskFiles

log = logging.getLogger(__name__)
_CANCELLED = TaskError("cancelled", "The task was cancelled by its owner.")


@dataclass(frozen=True, slots=True)
class Submission:
    task: TaskRecord
    #: The quota headers of the call the submission counted.
    headers: dict[str, str]


class ImageService:
    def __init__(
        self,
        *,
        settings: Settings,
        admission: Admission,
        tasks: TaskStore,
        queue: TaskQueue,
        outputs: TaskFiles,
        fetcher: ImageFetcher,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.admission = admission
        self.tasks = tasks
        self.queue = queue
        self.outputs = outputs
        self.fetcher = fetcher
        self.quota = TaskQuota(admission.metering)
        self._profiles: dict[str, tuple[ModelSpec, ImageProfile]] = {}
        self._waiters: dict[str, asyncio.Event] = {}
        depth = Gauge(
            "openmaas_image_queue_depth",
            "Image tasks waiting for a worker",
            registry=metrics.collector_registry,
        )
        depth.set_function(queue.depth)
        # The embedded mode runs its tasks here; the shared mode leaves them to the image workers.
        self.runner: TaskRunner | None = None
        self.workers: ImageWorkers | None = None
        if isinstance(queue, LocalTaskQueue):
            self.runner = TaskRunner(
                tasks=tasks,
                engines=admission.engines,
                outputs=outputs,
                quota=self.quota,
                collector_registry=metrics.collector_registry,
                max_attempts=settings.image_max_attempts,
                on_finished=self._notify,
            )
            self.workers = ImageWorkers(queue, self.runner)
        self.retention = TaskRetention(tasks, outputs, settings.image_retention_hours)
        self._cleaner = self.retention.periodic()

    @classmethod
    def build(
        cls,
        settings: Settings,
        tasks: TaskStore,
        admission: Admission,
        metrics: Metrics,
    ) -> ImageService:
        """The queue and the outputs the settings select (see `image_queue` and `s3_bucket`)."""
        queue: TaskQueue
        if settings.shared_image_queue:
            queue = SharedTaskQueue(job_queue(settings), tasks, max_size=settings.image_queue_size)
            if settings.s3_bucket is None:
                log.warning(
                    "the shared image queue without object storage (OPENMAAS_S3_BUCKET): image workers "
                    "write their outputs there, and this process could not hand out their URLs"
                )
        else:
            queue = LocalTaskQueue(settings.image_queue_size)
        return cls(
            settings=settings,
            admission=admission,
            tasks=tasks,
            queue=queue,
            outputs=task_files(settings),
            fetcher=ImageFetcher(FetchPolicy.from_settings(settings)),
            metrics=metrics,
        )

    # ---- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.outputs.open()
        await self.queue.open()
        if self.workers is not None:
            await self.recover()
            self.workers.start(self.settings.image_workers)
            self._cleaner.start()

    async def close(self) -> None:
        await self._cleaner.stop()
        if self.workers is not None:
            await self.workers.close()
        await self.queue.close()
        await self.outputs.close()
        await self.fetcher.aclose()

    async def recover(self) -> None:
        """Queue the tasks a previous process left unfinished (see the module docstring)."""
        assert self.runner is not None and isinstance(self.queue, LocalTaskQueue)
        queued: list[str] = []
        for task in await self.tasks.unfinished_tasks():
            if task.status is TaskStatus.RUNNING:
                if task.attempts >= self.settings.image_max_attempts:
                    await self.runner.give_up(task)
                    continue
                await self.tasks.requeue_task(task.id, count_attempt=True)
            queued.append(task.id)
        await self.queue.restore(queued)
        if queued:
            log.info("recovered image tasks", extra={"tasks": len(queued)})

    # ---- submitting -----------------------------------------------------------------------------

    async def submit(self, caller: Caller, request: ImageRequest, request_id: str) -> Submission:
        check_request(request)
        admitted = await self.admission.admit(
            caller, request.model, IMAGE, check=lambda spec: self.profile(spec).check(request)
        )
        fetched = None
        if request.image_url is not None:
            fetched = await self.fetcher.fetch(request.image_url, field="image_url")
        job = self._job(request, self.profile(admitted.spec), fetched)
        ticket = await admitted.reserve()
        try:
            task = await self._store(caller, job, fetched, ticket.day, request_id)
        except BaseException:
            await ticket.refund()
            raise
        try:
            await self._queue(task)
        except Overloaded:
            await self.tasks.end_task(
                task.id,
                TaskStatus.FAILED,
                expect=[TaskStatus.PENDING],
                error=TaskError("overloaded", "The queue was full; the task was not accepted."),
            )
            await self.outputs.delete_input(task.id)
            await ticket.refund()
            raise
        return Submission(task, ticket.headers)

    async def _queue(self, task: TaskRecord) -> None:
        """Queue the task; a queue that cannot be reached is a 503 like a full one."""
        try:
            await self.queue.submit(task)
        except Overloaded:
            raise
        except Exception as exc:
            log.exception("could not queue an image task", extra={"task_id": task.id})
            raise Overloaded("The task queue is unavailable; retry shortly.", retry_after=5) from exc

    def profile(self, spec: ModelSpec) -> ImageProfile:
        """The model's image profile (a worker may register a model with a new spec: it is re-read)."""
        cached = self._profiles.get(spec.id)
        if cached is None or cached[0] != spec:
            cached = self._profiles[spec.id] = (spec, ImageProfile.from_spec(spec))
        return cached[1]

    @staticmethod
    def _job(request: ImageRequest, profile: ImageProfile, fetched: FetchedImage | None) -> ImageJob:
        size = request.size
        if size is None:
            size = profile.fit(fetched.width, fetched.height) if fetched else profile.default_size
        return ImageJob(
            model=request.model,
            prompt=request.prompt,
            negative_prompt=request.negative_prompt,
            width=size.width,
            height=size.height,
            seed=request.seed if request.seed is not None else secrets.randbelow(MAX_SEED + 1),
            steps=request.steps if request.steps is not None else profile.default_steps,
            guidance=request.guidance if request.guidance is not None else profile.default_guidance,
            n=request.n,
            loras=request.loras,
        )

    async def _store(
        self, caller: Caller, job: ImageJob, fetched: FetchedImage | None, day: date, request_id: str
    ) -> TaskRecord:
        task_id = str(uuid.uuid4())
        input_key = await self.outputs.save_input(task_id, fetched.data) if fetched else None
        now = datetime.now(UTC)
        task = TaskRecord(
            id=task_id,
            kind=IMAGE_GENERATION,
            user_id=caller.user.id,
            model=job.model,
            status=TaskStatus.PENDING,
            params=job.to_params(),
            request_id=request_id,
            quota_day=day,
            attempts=0,
            progress=0.0,
            outputs=(),
            error=None,
            input_key=input_key,
            created_at=now,
            updated_at=now,
        )
        await self.tasks.add_task(task)
        return task

    # ---- reading, waiting, cancelling -----------------------------------------------------------

    async def task_for(self, caller: Caller, task_id: str) -> TaskRecord:
        """The caller's task; another user's task is as unknown as a missing one (404)."""
        task = await self.tasks.get_task(task_id) if len(task_id) <= 64 else None
        if task is None or task.user_id != caller.user.id:
            raise NotFound(f"No task {task_id!r}.", param="task_id", code="task_not_found")
        return task

    async def tasks_of(
        self, caller: Caller, *, limit: int, after: str | None
    ) -> tuple[list[TaskRecord], bool]:
        """The caller's tasks, newest first, after the task `after` (a cursor from the previous page);
        and whether more follow."""
        before = None
        if after is not None:
            before = await self.tasks.get_task(after) if len(after) <= 64 else None
            if before is None or before.user_id != caller.user.id:
                raise InvalidRequest(f"after: no task {after!r}.", param="after")
        found = await self.tasks.list_tasks(caller.user.id, limit=limit + 1, before=before)
        return found[:limit], len(found) > limit

    async def wait(self, task_id: str) -> TaskRecord:
        """Wait until the task has finished: woken by this process's workers, and re-reading the task
        ever less often (from 0.1 s to 1 s) for tasks that workers elsewhere run."""
        event = self._waiters.setdefault(task_id, asyncio.Event())
        pause = 0.1
        try:
            while True:
                task = await self.tasks.get_task(task_id)
                if task is None:
                    raise NotFound(f"No task {task_id!r}.", param="task_id", code="task_not_found")
                if task.status.finished:
                    return task
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(2.0 if self.workers is not None else pause):
                        await event.wait()
                pause = min(1.0, pause * 1.5)
        finally:
            self._waiters.pop(task_id, None)

    def _notify(self, task_id: str) -> None:
        event = self._waiters.get(task_id)
        if event is not None:
            event.set()

    async def cancel(self, caller: Caller, task_id: str) -> TaskRecord:
        task = await self.task_for(caller, task_id)
        if task.status.finished:
            raise InvalidRequest(
                f"The task {task_id!r} has already finished ({task.status.value}).", param="task_id"
            )
        pending = [TaskStatus.PENDING]
        ended = await self.tasks.end_task(task_id, TaskStatus.FAILED, expect=pending, error=_CANCELLED)
        if ended is not None:  # it never ran: the call is given back
            await self.quota.refund(ended)
        else:  # it is running: the work done counts, like a chat stream the client left
            running = [TaskStatus.RUNNING]
            ended = await self.tasks.end_task(task_id, TaskStatus.FAILED, expect=running, error=_CANCELLED)
            if ended is not None and self.runner is not None:
                self.runner.cancel(task_id)  # at once; workers elsewhere see it at their next step
        if ended is None:  # it finished meanwhile
            return await self.task_for(caller, task_id)
        await self.outputs.delete_input(task_id)
        self._notify(task_id)
        return ended

    # ---- outputs --------------------------------------------------------------------------------

    def output_urls(self, task: TaskRecord, base_url: str) -> list[str]:
        """Signed (or presigned), expiring absolute URLs of the task's images, fresh at every read."""
        base = self.settings.public_base_url or base_url.rstrip("/")
        return [self.outputs.url(key, base) for key in task.outputs]

    async def output_bytes(self, task: TaskRecord) -> list[bytes]:
        return [await self.outputs.read(key) for key in task.outputs]

    async def output_image(self, key: str, expires: str | None, signature: str | None) -> bytes:
        """The file behind a URL this server signed; 403 for a bad or expired signature, 404 when it is
        gone (or when outputs live in object storage, which serves them itself)."""
        if not isinstance(self.outputs, LocalTaskFiles):
            raise NotFound("Outputs are in object storage: read the task for their URLs.")
        return await self.outputs.read_signed(key, expires, signature)
