"""The token cache of the scaled-out mode: lookups served from memory while the auth epoch stands still,
and a revocation or user change made by any other process honoured on the very next lookup."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from openmaas.access.auth import Authenticator
from openmaas.access.tokens import new_token, token_hash
from openmaas.domain.accounts import Caller
from openmaas.domain.errors import AuthenticationFailed
from openmaas.services.accounts import mint_token
from openmaas.store.auth_cache import AuthEpoch, CachedRecordStore, RedisAuthEpoch
from openmaas.store.base import RecordStore
from openmaas.store.redis import connect
from openmaas.store.sql import SqlStore


class CountingStore(SqlStore):
    lookups = 0

    async def caller_for(self, token_hash: str) -> Caller | None:
        self.lookups += 1
        return await super().caller_for(token_hash)


class Process:
    """What one API process has: the store it looks tokens up in (`cached`, around `counting`)."""

    def __init__(self, url: str, redis_url: str, redis_prefix: str) -> None:
        self.redis = connect(redis_url)
        self.counting = CountingStore(url)
        self.cached = CachedRecordStore(self.counting, RedisAuthEpoch(self.redis, redis_prefix))

    async def close(self) -> None:
        await self.cached.close()
        await self.redis.aclose()


@pytest.fixture
async def stores(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> AsyncIterator[tuple[CountingStore, CachedRecordStore, CachedRecordStore]]:
    """Two stores on one database and one Redis, as two processes would have them: (the counting store
    under mine, mine, the other's)."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    mine, other = Process(url, redis_url, redis_prefix), Process(url, redis_url, redis_prefix)
    await mine.cached.open()
    await other.cached.open()
    yield mine.counting, mine.cached, other.cached
    await mine.close()
    await other.close()


async def _token(store: RecordStore, name: str) -> str:
    user = await store.add_user(name, is_admin=False, daily_limit=None, model_daily_limit=None)
    return (await mint_token(store, user, label="", models=None)).text


async def test_lookups_are_cached_until_the_epoch_moves(
    stores: tuple[CountingStore, CachedRecordStore, CachedRecordStore],
) -> None:
    mine, cached, other = stores
    auth = Authenticator(cached)
    alice, bob = await _token(other, "alice"), await _token(other, "bob")
    for _ in range(5):
        assert (await auth.caller(alice)).user.name == "alice"
    assert mine.lookups == 1
    await other.update_user("bob", daily_limit=7)  # another process changes a user: caches are dropped
    assert (await auth.caller(alice)).user.name == "alice"
    assert (await auth.caller(bob)).user.daily_limit == 7
    assert mine.lookups == 3
    await other.revoke_tokens(token_hash=token_hash(alice))
    with pytest.raises(AuthenticationFailed):
        await auth.caller(alice)
    assert (await auth.caller(bob)).user.name == "bob"


async def test_unknown_tokens_are_not_cached(
    stores: tuple[CountingStore, CachedRecordStore, CachedRecordStore],
) -> None:
    mine, cached, _ = stores
    auth = Authenticator(cached)
    stranger = new_token()
    for _ in range(2):
        with pytest.raises(AuthenticationFailed):
            await auth.caller(stranger)
    assert mine.lookups == 2
    with pytest.raises(AuthenticationFailed):
        await auth.caller("not-a-token")
    assert mine.lookups == 2  # malformed: refused without a lookup


async def test_without_redis_every_lookup_reads_the_store(tmp_path: Path) -> None:
    store = CountingStore(f"sqlite:///{tmp_path / 'plain.db'}")
    await store.open()
    token = await _token(store, "alice")
    auth = Authenticator(store)
    await auth.caller(token)
    await auth.caller(token)
    assert store.lookups == 2
    await store.close()


class SlowEpoch(AuthEpoch):
    """An epoch that lives in memory and takes a while to read, to watch reads being shared."""

    def __init__(self) -> None:
        self.value = 0
        self.reads = 0

    async def current(self) -> int | None:
        seen = self.value  # the read happens when it starts...
        await asyncio.sleep(0.02)  # ...and its answer lands later
        self.reads += 1
        return seen

    async def bump(self) -> None:
        self.value += 1


async def test_concurrent_requests_share_epoch_reads_without_missing_a_revocation(tmp_path: Path) -> None:
    epoch = SlowEpoch()
    store = CachedRecordStore(SqlStore(f"sqlite:///{tmp_path / 'slow.db'}"), epoch)
    await store.open()
    token = await _token(store, "alice")
    auth = Authenticator(store)
    callers = await asyncio.gather(*(auth.caller(token) for _ in range(50)))
    assert {c.user.name for c in callers} == {"alice"}
    assert epoch.reads == 2  # the first request's read, then one read for the 49 that arrived meanwhile
    before = asyncio.create_task(auth.caller(token))  # its epoch read is in flight...
    await asyncio.sleep(0.005)
    await store.revoke_tokens(token_hash=token_hash(token))  # ...when the token is revoked
    after = [asyncio.create_task(auth.caller(token)) for _ in range(5)]
    assert (await before).user.name == "alice"  # it began before the revocation: it may pass
    for request in after:  # these arrived after it: every one is refused
        with pytest.raises(AuthenticationFailed):
            await request
    await store.close()
