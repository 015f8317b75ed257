"""The task store's compare-and-set transitions, on SQLite and PostgreSQL (a database of its own per test;
skipped when PostgreSQL is absent, except under CI=true)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from openmaas.domain.tasks import TaskError, TaskRecord, TaskStatus
from openmaas.store.sql import SqlStore


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = request.getfixturevalue("postgres_url").replace("postgresql://", "postgresql+asyncpg://", 1)
    store = SqlStore(url)
    await store.open()
    yield store
    await store.close()


async def _task(store: SqlStore, task_id: str = "t1", status: TaskStatus = TaskStatus.PENDING) -> TaskRecord:
    user = await store.get_user("alice") or await store.add_user(
        "alice", is_admin=False, daily_limit=None, model_daily_limit=None
    )
    now = datetime.now(UTC)
    task = TaskRecord(
        id=task_id,
        kind="image_generation",
        user_id=user.id,
        model="m/x",
        status=status,
        params={"prompt": "héllo", "loras": [["a", 0.5]]},
        request_id="req-1",
        quota_day=now.date(),
        attempts=0,
        progress=0.0,
        outputs=(),
        error=None,
        input_key="inputs/t1",
        created_at=now,
        updated_at=now,
    )
    await store.add_task(task)
    return task


async def test_round_trip(store: SqlStore) -> None:
    task = await _task(store)
    assert await store.get_task("t1") == task
    assert await store.get_task("missing") is None


async def test_claim_once(store: SqlStore) -> None:
    await _task(store)
    claimed = await store.claim_task("t1")
    assert claimed is not None and (claimed.status, claimed.attempts) == (TaskStatus.RUNNING, 1)
    assert await store.claim_task("t1") is None


async def test_progress_only_while_running(store: SqlStore) -> None:
    await _task(store)
    assert await store.report_progress("t1", 0.5) is False
    await store.claim_task("t1")
    assert await store.report_progress("t1", 0.5) is True
    task = await store.get_task("t1")
    assert task is not None and task.progress == 0.5


async def test_only_one_ending_wins(store: SqlStore) -> None:
    await _task(store)
    await store.claim_task("t1")
    cancelled = TaskError("cancelled", "by its owner")
    assert await store.end_task("t1", TaskStatus.FAILED, expect=[TaskStatus.PENDING], error=cancelled) is None
    ended = await store.end_task("t1", TaskStatus.FAILED, expect=[TaskStatus.RUNNING], error=cancelled)
    assert ended is not None and ended.error == cancelled and ended.progress == 0.0
    done = await store.end_task("t1", TaskStatus.SUCCEED, expect=[TaskStatus.RUNNING], outputs=["o/1.png"])
    assert done is None
    with pytest.raises(ValueError, match="final"):
        await store.end_task("t1", TaskStatus.RUNNING, expect=[TaskStatus.PENDING])


async def test_success_records_outputs(store: SqlStore) -> None:
    await _task(store)
    await store.claim_task("t1")
    done = await store.end_task("t1", TaskStatus.SUCCEED, expect=[TaskStatus.RUNNING], outputs=["a", "b"])
    assert done is not None and (done.outputs, done.progress, done.error) == (("a", "b"), 1.0, None)


async def test_requeue_and_recovery_listing(store: SqlStore) -> None:
    await _task(store, "t1")
    await _task(store, "t2")
    await _task(store, "t3", TaskStatus.SUCCEED)
    await store.claim_task("t1")
    assert await store.requeue_task("t1", count_attempt=False)
    task = await store.get_task("t1")
    assert task is not None and (task.status, task.attempts) == (TaskStatus.PENDING, 0)
    await store.claim_task("t1")
    assert await store.requeue_task("t1", count_attempt=True)
    assert not await store.requeue_task("t2", count_attempt=True)  # not running
    unfinished = await store.unfinished_tasks()
    assert [(t.id, t.attempts) for t in unfinished] == [("t1", 1), ("t2", 0)]


async def test_delete_finished_before(store: SqlStore) -> None:
    await _task(store, "old", TaskStatus.SUCCEED)
    await _task(store, "running", TaskStatus.RUNNING)
    assert await store.delete_tasks_finished_before(datetime.now(UTC) - timedelta(hours=1)) == []
    removed = await store.delete_tasks_finished_before(datetime.now(UTC) + timedelta(seconds=1))
    assert [t.id for t in removed] == ["old"]
    assert await store.get_task("old") is None
    assert await store.get_task("running") is not None


async def test_a_dead_run_is_taken_over_once_and_fenced_out(store: SqlStore) -> None:
    await _task(store)
    first = await store.claim_task("t1")
    assert first is not None and first.attempts == 1
    assert await store.report_progress("t1", 0.4, attempt=1)
    second = await store.take_over_task("t1", attempts=1)
    assert second is not None and (second.status, second.attempts, second.progress) == (
        TaskStatus.RUNNING,
        2,
        0.0,
    )
    assert await store.take_over_task("t1", attempts=1) is None  # another worker was first
    # The first run, back from the dead, can no longer change the task.
    assert not await store.report_progress("t1", 0.9, attempt=1)
    assert await store.end_task("t1", TaskStatus.SUCCEED, expect=[TaskStatus.RUNNING], attempt=1) is None
    assert not await store.requeue_task("t1", count_attempt=False, attempt=1)
    assert await store.report_progress("t1", 0.5, attempt=2)
    done = await store.end_task(
        "t1", TaskStatus.SUCCEED, expect=[TaskStatus.RUNNING], outputs=["outputs/t1/2-0.png"], attempt=2
    )
    assert done is not None and done.outputs == ("outputs/t1/2-0.png",)
    assert await store.take_over_task("t1", attempts=2) is None  # finished: nothing to take over


async def test_the_owner_cancels_whatever_the_attempt(store: SqlStore) -> None:
    await _task(store)
    await store.claim_task("t1")
    cancelled = TaskError("cancelled", "by its owner")
    assert await store.end_task("t1", TaskStatus.FAILED, expect=[TaskStatus.RUNNING], error=cancelled)
    assert not await store.report_progress("t1", 0.5, attempt=1)  # the run learns it was cancelled


async def test_counts_for_the_shared_queue(store: SqlStore) -> None:
    await _task(store, "a")
    await _task(store, "b")
    await _task(store, "c", TaskStatus.SUCCEED)
    await store.claim_task("b")
    assert await store.pending_count() == 1
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    assert await store.finished_count(hour_ago) == 1
    assert await store.finished_count(datetime.now(UTC) + timedelta(seconds=1)) == 0
