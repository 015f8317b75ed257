"""The response store on SQLite and PostgreSQL: owner-only reads, conversation chains in one query,
deletion and retention (a database of its own per test; PostgreSQL skipped when absent, except in CI)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from openmaas.domain.responses import StoredResponse
from openmaas.store.sql import SqlStore

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


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


async def _user(store: SqlStore, name: str) -> int:
    user = await store.get_user(name) or await store.add_user(
        name, is_admin=False, daily_limit=None, model_daily_limit=None
    )
    return user.id


def _response(
    response_id: str, user_id: int, previous: str | None = None, *, created_at: datetime | None = None
) -> StoredResponse:
    return StoredResponse(
        id=response_id,
        user_id=user_id,
        model="m/x",
        previous_response_id=previous,
        input_items=[{"id": f"msg_{response_id}", "type": "message", "role": "user", "content": []}],
        body={"id": response_id, "object": "response", "output": [{"type": "message", "text": "héllo"}]},
        created_at=created_at or datetime.now(UTC),
    )


async def test_round_trip_only_for_the_owner(store: SqlStore) -> None:
    alice, bob = await _user(store, "alice"), await _user(store, "bob")
    stored = _response("resp_1", alice)
    await store.add_response(stored)
    assert await store.get_response("resp_1", alice, since=LONG_AGO) == stored
    assert await store.get_response("resp_1", bob, since=LONG_AGO) is None
    assert await store.get_response("resp_2", alice, since=LONG_AGO) is None
    assert stored.output == [{"type": "message", "text": "héllo"}]


async def test_chain_newest_first_and_stops_at_a_missing_link(store: SqlStore) -> None:
    alice, bob = await _user(store, "alice"), await _user(store, "bob")
    for index in range(1, 5):
        previous = f"resp_{index - 1}" if index > 1 else None
        await store.add_response(_response(f"resp_{index}", alice, previous))
    chain = await store.response_chain("resp_4", alice, since=LONG_AGO, limit=100)
    assert [r.id for r in chain] == ["resp_4", "resp_3", "resp_2", "resp_1"]
    assert chain[-1].previous_response_id is None
    limited = await store.response_chain("resp_4", alice, since=LONG_AGO, limit=2)
    assert [r.id for r in limited] == ["resp_4", "resp_3"]
    assert await store.response_chain("resp_4", bob, since=LONG_AGO, limit=100) == []
    assert await store.delete_response("resp_2", bob) is False
    assert await store.delete_response("resp_2", alice) is True
    broken = await store.response_chain("resp_4", alice, since=LONG_AGO, limit=100)
    assert [r.id for r in broken] == ["resp_4", "resp_3"] and broken[-1].previous_response_id == "resp_2"


async def test_retention(store: SqlStore) -> None:
    alice = await _user(store, "alice")
    now = datetime.now(UTC)
    await store.add_response(_response("resp_old", alice, created_at=now - timedelta(days=40)))
    await store.add_response(_response("resp_new", alice, "resp_old", created_at=now))
    cutoff = now - timedelta(days=30)
    assert await store.get_response("resp_old", alice, since=cutoff) is None
    assert [r.id for r in await store.response_chain("resp_new", alice, since=cutoff, limit=10)] == [
        "resp_new"
    ]
    assert await store.delete_responses_created_before(cutoff) == 1
    assert await store.get_response("resp_old", alice, since=LONG_AGO) is None
    assert await store.get_response("resp_new", alice, since=LONG_AGO) is not None
