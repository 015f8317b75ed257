"""The store's contract, run on SQLite and PostgreSQL alike (and the quota counters on Redis too).

PostgreSQL tests get a database of their own (see `tests/backends.py`); they are skipped with the
reason when PostgreSQL is absent, except under CI=true, where they fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from openmaas.domain.errors import InvalidRequest, NotFound
from openmaas.domain.tasks import TaskRecord, TaskStatus
from openmaas.store.base import QuotaCounter
from openmaas.store.redis import RedisQuotaCounter, connect
from openmaas.store.sql import SqlStore

DAY = date(2026, 11, 22)


def _url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    plain: str = request.getfixturevalue("postgres_url")
    return plain.replace("postgresql://", "postgresql+asyncpg://", 1)


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlStore]:
    store = SqlStore(_url(request, tmp_path))
    await store.open()
    yield store
    await store.close()


@pytest.fixture(params=["sql", "redis"])
async def counter(request: pytest.FixtureRequest, store: SqlStore) -> AsyncIterator[QuotaCounter]:
    """The quota counters of each store: the SQL store itself, or Redis beside it."""
    if request.param == "sql":
        yield store
        return
    prefix: str = request.getfixturevalue("redis_prefix")
    redis = connect(request.getfixturevalue("redis_url"))
    yield RedisQuotaCounter(redis, prefix)
    await redis.aclose()


async def test_users(store: SqlStore) -> None:
    alice = await store.add_user("alice", is_admin=True, daily_limit=None, model_daily_limit=5)
    assert (alice.name, alice.is_admin, alice.daily_limit, alice.model_daily_limit) == (
        "alice",
        True,
        None,
        5,
    )
    with pytest.raises(InvalidRequest):
        await store.add_user("alice", is_admin=False, daily_limit=None, model_daily_limit=None)
    changed = await store.update_user("alice", daily_limit=10, is_admin=False)
    assert (changed.daily_limit, changed.model_daily_limit, changed.is_admin) == (10, 5, False)
    cleared = await store.update_user("alice", model_daily_limit=None)
    assert cleared.model_daily_limit is None and cleared.daily_limit == 10
    with pytest.raises(NotFound):
        await store.update_user("nobody", daily_limit=1)
    await store.add_user("bob", is_admin=False, daily_limit=1, model_daily_limit=None)
    assert [u.name for u in await store.list_users()] == ["alice", "bob"]
    assert await store.get_user("carol") is None


async def test_tokens(store: SqlStore) -> None:
    user = await store.add_user("alice", is_admin=False, daily_limit=None, model_daily_limit=None)
    one = await store.add_token(
        user.id, token_hash="a" * 64, prefix="ms-aaaaaaaa", label="laptop", models=None
    )
    two = await store.add_token(user.id, token_hash="b" * 64, prefix="ms-bbbbbbbb", label="", models=("m/x",))
    assert one.active and one.user_name == "alice" and two.models == ("m/x",)
    caller = await store.caller_for("a" * 64)
    assert caller is not None and caller.user.name == "alice" and caller.token.label == "laptop"
    assert caller.may_use("anything")
    restricted = await store.caller_for("b" * 64)
    assert restricted is not None and not restricted.may_use("m/y") and restricted.may_use("m/x")
    assert await store.caller_for("c" * 64) is None
    revoked = await store.revoke_tokens(prefix="ms-aaaa")
    assert [t.prefix for t in revoked] == ["ms-aaaaaaaa"] and revoked[0].revoked_at is not None
    assert await store.caller_for("a" * 64) is None
    assert await store.revoke_tokens(prefix="ms-aaaa") == []
    assert [t.active for t in await store.list_tokens("alice")] == [False, True]
    assert len(await store.revoke_tokens(token_hash="b" * 64)) == 1


async def test_quota_counters_are_exact(store: SqlStore, counter: QuotaCounter) -> None:
    user = await store.add_user("alice", is_admin=False, daily_limit=None, model_daily_limit=None)
    results = await asyncio.gather(
        *(
            counter.reserve(user.id, DAY, "m/a", total_limit=30, model_limit=None, ttl_seconds=60)
            for _ in range(100)
        )
    )
    assert sum(r.accepted for r in results) == 30
    assert {r.limit for r in results if not r.accepted} == {"daily"}
    assert await counter.used(user.id, DAY) == (30, {"m/a": 30})
    await counter.release(user.id, DAY, "m/a")
    assert await counter.used(user.id, DAY) == (29, {"m/a": 29})


async def test_model_limit_and_release(store: SqlStore, counter: QuotaCounter) -> None:
    user = await store.add_user("alice", is_admin=False, daily_limit=None, model_daily_limit=None)
    states = [
        await counter.reserve(user.id, DAY, "m/a", total_limit=10, model_limit=2, ttl_seconds=60)
        for _ in range(3)
    ]
    assert [s.accepted for s in states] == [True, True, False]
    assert states[2].limit == "model" and states[2].model_used == 2 and states[2].total_used == 2
    other = await counter.reserve(user.id, DAY, "m/b", total_limit=10, model_limit=2, ttl_seconds=60)
    assert other.accepted and other.total_used == 3 and other.model_used == 1
    tomorrow = await counter.reserve(
        user.id, date(2026, 11, 23), "m/a", total_limit=10, model_limit=2, ttl_seconds=60
    )
    assert tomorrow.accepted and tomorrow.total_used == 1
    await counter.release(user.id, DAY, "m/b")
    assert await counter.used(user.id, DAY) == (2, {"m/a": 2, "m/b": 0})


async def test_usage_ledger(store: SqlStore) -> None:
    alice = await store.add_user("alice", is_admin=False, daily_limit=None, model_daily_limit=None)
    bob = await store.add_user("bob", is_admin=False, daily_limit=None, model_daily_limit=None)
    for _ in range(2):
        await store.record_usage(alice.id, DAY, "m/a", calls=1, prompt_tokens=10, completion_tokens=5)
    await store.record_usage(bob.id, date(2026, 11, 21), "m/b", calls=1, prompt_tokens=1, completion_tokens=1)
    rows = await store.usage(date(2026, 11, 21), DAY)
    assert [(r.day.isoformat(), r.user_name, r.model, r.calls, r.prompt_tokens) for r in rows] == [
        ("2026-11-21", "bob", "m/b", 1, 1),
        ("2026-11-22", "alice", "m/a", 2, 20),
    ]
    assert [r.user_name for r in await store.usage(DAY, DAY, "alice")] == ["alice"]


async def test_reopening_keeps_data_and_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'again.db'}"
    first = SqlStore(url)
    await first.open()
    await first.add_user("alice", is_admin=False, daily_limit=None, model_daily_limit=None)
    await first.close()
    second = SqlStore(url)
    await second.open()
    assert await second.get_user("alice") is not None
    await second.close()


async def test_processes_migrating_at_once(postgres_url: str) -> None:
    """Several processes starting together on an empty PostgreSQL database: one migrates, the others
    wait on the advisory lock and find the schema up to date."""
    url = postgres_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    stores = [SqlStore(url) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))
    await stores[0].add_user("alice", is_admin=False, daily_limit=None, model_daily_limit=None)
    assert [u.name for u in await stores[3].list_users()] == ["alice"]
    for s in stores:
        await s.close()


async def test_redis_counters_expire_after_the_reset(redis_url: str, redis_prefix: str) -> None:
    redis = connect(redis_url)
    counter = RedisQuotaCounter(redis, redis_prefix)
    await counter.reserve(7, DAY, "m/a", total_limit=5, model_limit=None, ttl_seconds=100)
    ttl = await redis.ttl(counter.key(7, DAY))
    assert 100 < ttl <= 100 + 3600
    await redis.aclose()


async def test_revoking_a_token_by_id(store: SqlStore) -> None:
    user = await store.add_user("alice", is_admin=False, daily_limit=None, model_daily_limit=None)
    one = await store.add_token(user.id, token_hash="a" * 64, prefix="ms-aaaaaaaa", label="", models=None)
    two = await store.add_token(user.id, token_hash="b" * 64, prefix="ms-aaaaaaaa", label="", models=None)
    revoked = await store.revoke_token(one.id)
    assert revoked is not None and revoked.id == one.id and revoked.revoked_at is not None
    assert await store.caller_for("a" * 64) is None
    assert await store.caller_for("b" * 64) is not None  # the same prefix, another token: untouched
    again = await store.revoke_token(one.id)
    assert again is not None and again.revoked_at == revoked.revoked_at
    assert await store.revoke_token(two.id + 100) is None


async def test_a_users_tasks_newest_first(store: SqlStore) -> None:
    alice = await store.add_user("alice", is_admin=False, daily_limit=None, model_daily_limit=None)
    bob = await store.add_user("bob", is_admin=False, daily_limit=None, model_daily_limit=None)
    start = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)

    def task(task_id: str, user_id: int, minute: int) -> TaskRecord:
        at = start + timedelta(minutes=minute)
        return TaskRecord(
            task_id,
            "image_generation",
            user_id,
            "m/x",
            TaskStatus.SUCCEED,
            {},
            "req",
            DAY,
            1,
            1.0,
            (),
            None,
            None,
            at,
            at,
        )

    # Two tasks created in the same instant are ordered by id, so paging never skips or repeats one.
    for record in (
        task("a", alice.id, 0),
        task("c", alice.id, 1),
        task("b", alice.id, 1),
        task("z", bob.id, 2),
    ):
        await store.add_task(record)
    newest = await store.list_tasks(alice.id, limit=10)
    assert [t.id for t in newest] == ["c", "b", "a"]
    assert [t.id for t in await store.list_tasks(alice.id, limit=1, before=newest[0])] == ["b"]
    assert [t.id for t in await store.list_tasks(alice.id, limit=5, before=newest[1])] == ["a"]
    assert await store.list_tasks(alice.id, limit=5, before=newest[2]) == []
    assert [t.id for t in await store.list_tasks(bob.id, limit=5)] == ["z"]
