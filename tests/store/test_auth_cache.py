"""The auth epoch that `CachedRecordStore` moves when a token or a user changes."""

from __future__ import annotations

from pathlib import Path

from openmaas.store.auth_cache import CachedRecordStore, RedisAuthEpoch
from openmaas.store.redis import connect
from openmaas.store.sql import SqlStore


async def test_access_changes_move_the_epoch(tmp_path: Path, redis_url: str, redis_prefix: str) -> None:
    redis = connect(redis_url)
    epoch = RedisAuthEpoch(redis, redis_prefix)
    store = CachedRecordStore(SqlStore(f"sqlite:///{tmp_path / 'epoch.db'}"), epoch)
    await store.open()
    user = await store.add_user("alice", is_admin=False, daily_limit=None, model_daily_limit=None)
    await store.add_token(user.id, token_hash="a" * 64, prefix="ms-aaaaaaaa", label="", models=None)
    start = await epoch.current()
    assert start is not None
    await store.update_user("alice", daily_limit=3)
    after_update = await epoch.current()
    assert after_update is not None and after_update > start
    assert await store.revoke_tokens(prefix="ms-zzzz") == []  # nothing changed: the epoch stays
    assert await epoch.current() == after_update
    await store.revoke_tokens(prefix="ms-aaaa")
    assert (await epoch.current() or 0) > after_update
    await store.close()
    await redis.aclose()
