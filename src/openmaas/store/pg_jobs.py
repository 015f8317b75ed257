"""The shared job queue in PostgreSQL, on procrastinate: jobs that point image workers on any number of
machines at the tasks of their models.

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
as queueing lock. procrastinate's own tables are created at first use, under an advisory lock, from the
schema of the pinned procrastinate release (`procrastinate>=3.10,<3.11`: a release that changes its
schema comes with a new migration here).
"""

from __future__ import annotations

import contextlib
import hashlib

import procrastinate
import psycopg
from procrastinate.exceptions import AlreadyEnqueued, ConnectorException
from procrastinate.schema import SchemaManager

from openmaas.store.base import JobHandler, JobQueue

TASK_NAME = "openmaas.images.run"
_SCHEMA_LOCK = 0x6F6D6171  # advisory lock key ("omaq"): one process creates procrastinate's tables

# PENDING tasks that no waiting or running job points to, old enough not to be in flight.
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


async def ensure_schema(conninfo: str) -> None:
    """Create procrastinate's tables and functions unless they exist (once, whoever starts first)."""
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        found = await (await conn.execute("SELECT to_regclass('procrastinate_jobs')")).fetchone()
        if found is None or found[0] is None:
            await conn.execute(SchemaManager.get_schema())
        await conn.commit()


class PostgresJobQueue(JobQueue):
    """`conninfo`: a libpq URL (`postgresql://...`) of the database that holds the tasks."""

    def __init__(self, conninfo: str, *, pool_size: int = 4) -> None:
        self.conninfo = conninfo
        connector = procrastinate.PsycopgConnector(conninfo=conninfo, min_size=1, max_size=pool_size)
        self.app = procrastinate.App(connector=connector)

    async def open(self) -> None:
        await ensure_schema(self.conninfo)
        await self.app.open_async()

    async def close(self) -> None:
        await self.app.close_async()

    async def defer(self, task_id: str, model: str) -> None:
        deferrer = self.app.configure_task(TASK_NAME, queue=queue_name(model), queueing_lock=task_id)
        with contextlib.suppress(AlreadyEnqueued):
            await deferrer.defer_async(task_id=task_id, model=model)

    async def orphaned_tasks(self, older_than: float) -> list[tuple[str, str]]:
        rows = await self.app.connector.execute_query_all_async(_ORPHANS, age=older_than)
        return [(row["id"], row["model"]) for row in rows]

    async def requeue_stalled(self, lease_seconds: float) -> list[str]:
        manager = self.app.job_manager
        await manager.prune_stalled_workers(lease_seconds)
        requeued = []
        for job in await manager.get_stalled_jobs(seconds_since_heartbeat=lease_seconds):
            with contextlib.suppress(ConnectorException):  # another worker put it back first
                await manager.retry_job(job)
                requeued.append(str(job.task_kwargs.get("task_id")))
        return requeued

    async def work(
        self,
        handler: JobHandler,
        *,
        models: list[str],
        name: str,
        concurrency: int,
        lease_seconds: float,
        stop_timeout: float,
    ) -> None:
        async def run(task_id: str, model: str) -> None:
            await handler(task_id, model)

        self.app.task(name=TASK_NAME, pass_context=False)(run)
        await self.app.run_worker_async(
            queues=[queue_name(m) for m in models],
            name=name,
            concurrency=concurrency,
            wait=True,
            install_signal_handlers=False,
            listen_notify=True,
            fetch_job_polling_interval=lease_seconds / 3,
            abort_job_polling_interval=lease_seconds / 3,
            update_heartbeat_interval=lease_seconds / 5,
            stalled_worker_timeout=lease_seconds,
            shutdown_graceful_timeout=stop_timeout,
            delete_jobs="always",  # the task store keeps the history
        )
