"""The shared image-task queue: a durable queue in PostgreSQL, on procrastinate, that feeds image workers
on any number of machines (`shared_worker.py`).

Why procrastinate on PostgreSQL rather than a Redis queue (arq, saq, taskiq, dramatiq): the tasks
already live in PostgreSQL, so a job committed there is exactly as durable as the task it points to —
a restart of everything (Redis included, with or without its persistence) loses nothing — and the
recovery that joins the two (`orphaned_tasks`) is one query. procrastinate gives workers heartbeats in
the database (a SIGKILLed worker's jobs are found by their stale heartbeat and put back),
LISTEN/NOTIFY wake-ups (a task starts within milliseconds, no polling), queueing locks (one waiting job
per task) and per-queue routing; it is asyncio-native and actively maintained. What it does not decide
stays with the task store: a run claims its task with a compare-and-set and fences every change with
its attempt number, so no task completes twice even if a worker taken for dead comes back.

One job per task (`{"task_id", "model"}`), on the queue of its model (`queue_name`), with the task id
as queueing lock. The bound counts PENDING tasks in the task store (approximate by at most the
submissions in flight at once). procrastinate's own tables are created at first use, under an advisory
lock, from the schema of the pinned procrastinate release (`procrastinate>=3.10,<3.11`: a release that
changes its schema comes with a new migration here).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import procrastinate
import psycopg
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.schema import SchemaManager

from openmaas.domain.tasks import TaskRecord
from openmaas.services.images.job_queue import TaskQueue, queue_full
from openmaas.settings import Settings
from openmaas.store.base import TaskStore

TASK_NAME = "openmaas.images.run"
_SCHEMA_LOCK = 0x6F6D6171  # advisory lock key ("omaq"): one process creates procrastinate's tables
_PACE_WINDOW = timedelta(minutes=2)

# PENDING tasks that no waiting or running job points to: the API process died between storing the task
# and queueing it, or a worker stopped after putting its task back. Old enough not to be in flight.
_ORPHANS = """
SELECT t.id, t.model FROM tasks t
 WHERE t.status = 'PENDING' AND t.updated_at < now() - make_interval(secs => %(age)s)
   AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs j
                    WHERE j.queueing_lock = t.id AND j.status IN ('todo', 'doing'))
 ORDER BY t.created_at LIMIT 1000
"""


def queue_name(model_id: str) -> str:
    """The queue of a model's tasks. Short and fixed-length: PostgreSQL channel names (LISTEN) are
    limited to 63 bytes, and model ids can be long."""
    return "img-" + hashlib.sha256(model_id.encode()).hexdigest()[:16]


def libpq_url(database_url: str) -> str:
    """`postgresql://...` for psycopg, from the SQLAlchemy-style URL the settings may hold."""
    scheme, sep, rest = database_url.partition("://")
    if not sep or not scheme.startswith("postgres"):
        raise ValueError("the shared image queue needs a PostgreSQL database_url")
    return f"postgresql://{rest}"


async def ensure_schema(conninfo: str) -> None:
    """Create procrastinate's tables and functions unless they exist (once, whoever starts first)."""
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        found = await (await conn.execute("SELECT to_regclass('procrastinate_jobs')")).fetchone()
        if found is None or found[0] is None:
            await conn.execute(SchemaManager.get_schema())
        await conn.commit()


class SharedTaskQueue(TaskQueue):
    def __init__(self, settings: Settings, tasks: TaskStore, *, pool_size: int = 4) -> None:
        if settings.database_url is None:
            raise ValueError("the shared image queue needs database_url (PostgreSQL)")
        self.conninfo = libpq_url(settings.database_url)
        self.max_size = settings.image_queue_size
        self.tasks = tasks
        connector = procrastinate.PsycopgConnector(conninfo=self.conninfo, min_size=1, max_size=pool_size)
        self.app = procrastinate.App(connector=connector)
        self._depth = 0

    async def open(self) -> None:
        await ensure_schema(self.conninfo)
        await self.app.open_async()

    async def close(self) -> None:
        await self.app.close_async()

    async def submit(self, task: TaskRecord) -> None:
        waiting = await self.tasks.pending_count() - 1  # the task itself is stored PENDING already
        self._depth = waiting + 1
        if waiting >= self.max_size:
            raise queue_full(waiting, await self._retry_after(waiting))
        await self.defer(task.id, task.model)

    async def defer(self, task_id: str, model: str) -> None:
        """Queue a job for the task (none is added while one already waits for it)."""
        deferrer = self.app.configure_task(TASK_NAME, queue=queue_name(model), queueing_lock=task_id)
        with contextlib.suppress(AlreadyEnqueued):
            await deferrer.defer_async(task_id=task_id, model=model)

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

    async def orphaned_tasks(self, older_than: float) -> list[dict[str, Any]]:
        """PENDING tasks without a job (see `_ORPHANS`), as `{"id", "model"}` rows."""
        return await self.app.connector.execute_query_all_async(_ORPHANS, age=older_than)
