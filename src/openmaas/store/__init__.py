"""Persistence behind small interfaces (see `base.py`); `open_store` picks the implementation.

- Embedded default: records and quota counters in SQLite in the data dir.
- `database_url` alone: records and counters in that database (PostgreSQL serialises the counters).
- `redis_url` as well: quota counters and the auth epoch in Redis (one round trip per call, token
  lookups cached by every API process). This is the scaled-out mode: PostgreSQL + Redis.

Task files (`task_files`) are in the data dir, or in S3-compatible object storage with `s3_bucket`.
"""

from __future__ import annotations

from openmaas.settings import Settings
from openmaas.store.base import QuotaCounter, RecordStore, ResponseStore, TaskStore
from openmaas.store.files import LocalTaskFiles, TaskFiles
from openmaas.store.signed_urls import UrlSigner, load_or_create_secret
from openmaas.store.sql import SqlStore


def database_url(settings: Settings) -> str:
    """The SQLAlchemy URL for the configured database (SQLite in the data dir by default)."""
    url = settings.database_url
    if url is None:
        return f"sqlite:///{settings.data_dir / 'openmaas.db'}"
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url.removeprefix(plain)
    return url


async def open_store(settings: Settings) -> tuple[RecordStore, QuotaCounter]:
    """Connect to the configured store, migrate its schema, and return (records, quota counters)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.redis_url is None:
        store = SqlStore(database_url(settings))
        await store.open()
        return store, store
    try:
        from openmaas.store.redis import AuthEpoch, RedisQuotaCounter, connect
    except ImportError as exc:
        raise RuntimeError(f"redis_url needs the scale extra: pip install 'openmaas[scale]' ({exc})") from exc

    redis = connect(settings.redis_url)
    store = SqlStore(database_url(settings), epoch=AuthEpoch(redis, settings.redis_prefix))
    try:
        await store.open()
    except BaseException:
        await store.close()
        raise
    return store, RedisQuotaCounter(redis, settings.redis_prefix)


def task_store(records: RecordStore) -> TaskStore:
    """The task store that shares the records' database."""
    if not isinstance(records, TaskStore):
        raise TypeError(f"{type(records).__name__} keeps no tasks")
    return records


def response_store(records: RecordStore) -> ResponseStore:
    """The store of Responses API responses that shares the records' database."""
    if not isinstance(records, ResponseStore):
        raise TypeError(f"{type(records).__name__} keeps no responses")
    return records


def task_files(settings: Settings) -> TaskFiles:
    """Where task files go: the bucket when `s3_bucket` is set, else the data dir."""
    if settings.s3_bucket is not None:
        try:
            from openmaas.store.s3_files import S3TaskFiles
        except ImportError as exc:
            raise RuntimeError(
                f"s3_bucket needs the scale extra: pip install 'openmaas[scale]' ({exc})"
            ) from exc
        return S3TaskFiles(settings)
    signer = UrlSigner(load_or_create_secret(settings.data_dir))
    return LocalTaskFiles(settings.data_dir, signer, settings.image_url_ttl_seconds)
