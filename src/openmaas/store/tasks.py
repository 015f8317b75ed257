"""Tasks in the SQL store (SQLite or PostgreSQL): the `TaskStore` half of `SqlStore`.

Each status change is one conditional UPDATE (`... WHERE id = :task_id AND status IN :expect`), which
the database applies atomically, so a worker finishing a task and its owner cancelling it cannot both
win. A run may also fence its changes with its attempt number (`AND attempts = :fence`): when a worker
taken for dead was only slow and another has taken the task over, the stale run can no longer change
it. The statements are built once with bind parameters (several run for every task).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Update, and_, bindparam, delete, func, or_, select, update
from sqlalchemy.engine import Connection

from openmaas.domain.tasks import TaskError, TaskRecord, TaskStatus
from openmaas.store.base import TaskStore
from openmaas.store.schema import tasks

T = TypeVar("T")
_FINISHED = (TaskStatus.SUCCEED.value, TaskStatus.FAILED.value)
_UNFINISHED = (TaskStatus.PENDING.value, TaskStatus.RUNNING.value)


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _record(row: Any) -> TaskRecord:
    error = TaskError(row.error_code, row.error_message or "") if row.error_code else None
    return TaskRecord(
        id=row.id,
        kind=row.kind,
        user_id=row.user_id,
        model=row.model,
        status=TaskStatus(row.status),
        params=dict(row.params),
        request_id=row.request_id,
        quota_day=row.quota_day,
        attempts=row.attempts,
        progress=float(row.progress),
        outputs=tuple(row.outputs),
        error=error,
        input_key=row.input_key,
        created_at=_utc(row.created_at),
        updated_at=_utc(row.updated_at),
    )


def _transition(*columns: str, count_attempt: bool = False, fenced: bool = False) -> Update:
    """UPDATE the given columns (from `new_<column>` parameters), `updated_at` and, optionally,
    `attempts` (+ :attempt) of the task :task_id if its status is in :expect (and, fenced, if its
    attempts are :fence)."""
    values: dict[str, Any] = {name: bindparam(f"new_{name}", type_=tasks.c[name].type) for name in columns}
    if count_attempt:
        values["attempts"] = tasks.c.attempts + bindparam("attempt")
    condition = and_(
        tasks.c.id == bindparam("task_id"), tasks.c.status.in_(bindparam("expect", expanding=True))
    )
    if fenced:
        condition = and_(condition, tasks.c.attempts == bindparam("fence"))
    return (
        update(tasks)
        .where(condition)
        .values(**values, updated_at=bindparam("now", type_=tasks.c.updated_at.type))
    )


_BY_ID = select(tasks).where(tasks.c.id == bindparam("task_id"))
_INSERT = tasks.insert()
_CLAIM = _transition("status", "progress", count_attempt=True)
_TAKE_OVER = _transition("progress", count_attempt=True, fenced=True)
_PENDING_COUNT = select(func.count()).select_from(tasks).where(tasks.c.status == TaskStatus.PENDING.value)
# Each of these, unfenced (index 0) and fenced (index 1).
_PROGRESS = (_transition("progress"), _transition("progress", fenced=True))
_END = tuple(_transition("status", "outputs", "error_code", "error_message", fenced=f) for f in (False, True))
_SUCCEED = tuple(
    _transition("status", "outputs", "error_code", "error_message", "progress", fenced=f)
    for f in (False, True)
)
_REQUEUE = tuple(_transition("status", "progress", count_attempt=True, fenced=f) for f in (False, True))


def _get(conn: Connection, task_id: str) -> TaskRecord | None:
    row = conn.execute(_BY_ID, {"task_id": task_id}).first()
    return _record(row) if row else None


def _change(
    conn: Connection,
    statement: Update,
    task_id: str,
    expect: Sequence[TaskStatus],
    *,
    attempt: int | None = None,
    fence: int | None = None,
    **values: Any,
) -> bool:
    """Run a `_transition` statement; True if the task was in one of the `expect` statuses."""
    parameters = {f"new_{name}": value for name, value in values.items()}
    if attempt is not None:
        parameters["attempt"] = attempt
    if fence is not None:
        parameters["fence"] = fence
    parameters.update(task_id=task_id, expect=[s.value for s in expect], now=_now())
    return bool(conn.execute(statement, parameters).rowcount)


class SqlTaskStore(TaskStore):
    """Mixed into `SqlStore`, which provides how queries run (`_read`, `_write`)."""

    @abc.abstractmethod
    async def _read(self, query: Callable[..., T], *args: Any) -> T: ...

    @abc.abstractmethod
    async def _write(self, query: Callable[..., T], *args: Any) -> T: ...

    async def add_task(self, task: TaskRecord) -> None:
        def insert(conn: Connection) -> None:
            conn.execute(
                _INSERT,
                {
                    "id": task.id,
                    "kind": task.kind,
                    "user_id": task.user_id,
                    "model": task.model,
                    "status": task.status.value,
                    "params": task.params,
                    "request_id": task.request_id,
                    "quota_day": task.quota_day,
                    "attempts": task.attempts,
                    "progress": task.progress,
                    "outputs": list(task.outputs),
                    "error_code": task.error.code if task.error else None,
                    "error_message": task.error.message if task.error else None,
                    "input_key": task.input_key,
                    "created_at": task.created_at,
                    "updated_at": task.updated_at,
                },
            )

        await self._write(insert)

    async def get_task(self, task_id: str) -> TaskRecord | None:
        return await self._read(_get, task_id)

    async def claim_task(self, task_id: str) -> TaskRecord | None:
        def claim(conn: Connection) -> TaskRecord | None:
            claimed = _change(
                conn,
                _CLAIM,
                task_id,
                [TaskStatus.PENDING],
                status=TaskStatus.RUNNING.value,
                progress=0.0,
                attempt=1,
            )
            return _get(conn, task_id) if claimed else None

        return await self._write(claim)

    async def take_over_task(self, task_id: str, *, attempts: int) -> TaskRecord | None:
        def take_over(conn: Connection) -> TaskRecord | None:
            taken = _change(
                conn, _TAKE_OVER, task_id, [TaskStatus.RUNNING], attempt=1, fence=attempts, progress=0.0
            )
            return _get(conn, task_id) if taken else None

        return await self._write(take_over)

    async def report_progress(self, task_id: str, progress: float, *, attempt: int | None = None) -> bool:
        statement = _PROGRESS[attempt is not None]

        def report(conn: Connection) -> bool:
            return _change(conn, statement, task_id, [TaskStatus.RUNNING], fence=attempt, progress=progress)

        return await self._write(report)

    async def end_task(
        self,
        task_id: str,
        status: TaskStatus,
        *,
        expect: Sequence[TaskStatus],
        outputs: Sequence[str] = (),
        error: TaskError | None = None,
        attempt: int | None = None,
    ) -> TaskRecord | None:
        if not status.finished:
            raise ValueError(f"{status} is not a final status")
        values: dict[str, Any] = {
            "status": status.value,
            "outputs": list(outputs),
            "error_code": error.code if error else None,
            "error_message": error.message if error else None,
        }
        statement = _END[attempt is not None]
        if status is TaskStatus.SUCCEED:
            statement, values["progress"] = _SUCCEED[attempt is not None], 1.0

        def end(conn: Connection) -> TaskRecord | None:
            changed = _change(conn, statement, task_id, expect, fence=attempt, **values)
            return _get(conn, task_id) if changed else None

        return await self._write(end)

    async def requeue_task(self, task_id: str, *, count_attempt: bool, attempt: int | None = None) -> bool:
        statement = _REQUEUE[attempt is not None]

        def requeue(conn: Connection) -> bool:
            return _change(
                conn,
                statement,
                task_id,
                [TaskStatus.RUNNING],
                attempt=0 if count_attempt else -1,
                fence=attempt,
                status=TaskStatus.PENDING.value,
                progress=0.0,
            )

        return await self._write(requeue)

    async def pending_count(self) -> int:
        def count(conn: Connection) -> int:
            return int(conn.execute(_PENDING_COUNT).scalar_one())

        return await self._read(count)

    async def finished_count(self, since: datetime) -> int:
        recent = and_(tasks.c.updated_at >= since, tasks.c.status.in_(_FINISHED))
        statement = select(func.count()).select_from(tasks).where(recent)

        def count(conn: Connection) -> int:
            return int(conn.execute(statement).scalar_one())

        return await self._read(count)

    async def list_tasks(
        self, user_id: int, *, limit: int, before: TaskRecord | None = None
    ) -> list[TaskRecord]:
        statement = select(tasks).where(tasks.c.user_id == user_id)
        if before is not None:
            statement = statement.where(
                or_(
                    tasks.c.created_at < before.created_at,
                    and_(tasks.c.created_at == before.created_at, tasks.c.id < before.id),
                )
            )
        statement = statement.order_by(tasks.c.created_at.desc(), tasks.c.id.desc()).limit(limit)

        def query(conn: Connection) -> list[TaskRecord]:
            return [_record(row) for row in conn.execute(statement)]

        return await self._read(query)

    async def unfinished_tasks(self) -> list[TaskRecord]:
        statement = select(tasks).where(tasks.c.status.in_(_UNFINISHED)).order_by(tasks.c.created_at)

        def query(conn: Connection) -> list[TaskRecord]:
            return [_record(row) for row in conn.execute(statement)]

        return await self._read(query)

    async def delete_tasks_finished_before(self, cutoff: datetime) -> list[TaskRecord]:
        old = and_(tasks.c.status.in_(_FINISHED), tasks.c.updated_at < cutoff)

        def remove(conn: Connection) -> list[TaskRecord]:
            found = [_record(row) for row in conn.execute(select(tasks).where(old))]
            if found:
                conn.execute(delete(tasks).where(tasks.c.id.in_([t.id for t in found])))
            return found

        return await self._write(remove)
