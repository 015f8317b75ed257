"""The one factory of the store: which implementation serves each interface of `base.py` (and the task
files of `files.py`), chosen by the scheme of the configured URLs.

- `database_url`: `sqlite://` (the default, a file in the data dir) or `postgresql://` (also
  `postgres://`, `postgresql+asyncpg://`): records, quota counters, tasks and stored responses
  (`sql.py`); with PostgreSQL also the shared job queue (`pg_jobs.py`).
- `redis_url` (`redis://`, `rediss://`, `unix://`), as well: quota counters in Redis (`redis.py`), token
  lookups cached around the records (`auth_cache.py`) and the worker directory (`redis_directory.py`).
  With PostgreSQL this is the scaled-out mode.
- Task files: the data dir (`files.py`), or S3-compatible object storage with `s3_bucket`
  (`s3_files.py`).

A scheme the factory does not know is refused with a `ValueError` that names the setting and the
schemes it takes. The Redis, S3 and job-queue modules are imported only when chosen (the `scale` extra).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

from openmaas.settings import Settings
from openmaas.store.base import JobQueue, QuotaCounter, RecordStore, ResponseStore, TaskStore, WorkerDirectory
from openmaas.store.files import LocalTaskFiles, TaskFiles
from openmaas.store.signed_urls import UrlSigner, load_or_create_secret
from openmaas.store.sql import SqlStore

if TYPE_CHECKING:
    from redis.asyncio import Redis

#: The database schemes and the SQLAlchemy driver each runs on.
DATABASE_SCHEMES = {
    "sqlite": "sqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}
REDIS_SCHEMES = ("redis", "rediss", "unix")


def scheme(url: str) -> str:
    return url.partition("://")[0].lower() if "://" in url else ""


def _refused(setting: str, url: str, accepted: tuple[str, ...]) -> ValueError:
    schemes = ", ".join(f"{s}://" for s in accepted)
    return ValueError(f"{setting}: unknown scheme {scheme(url) + '://'!r}; use one of {schemes}")


def database_url(settings: Settings) -> str:
    """The SQLAlchemy URL of the configured database (SQLite in the data dir by default)."""
    url = settings.database_url
    if url is None:
        return f"sqlite:///{settings.data_dir / 'openmaas.db'}"
    driver = DATABASE_SCHEMES.get(scheme(url))
    if driver is None:
        raise _refused("database_url", url, tuple(DATABASE_SCHEMES))
    return f"{driver}://{url.partition('://')[2]}"


def _redis(settings: Settings) -> Redis:
    assert settings.redis_url is not None
    if scheme(settings.redis_url) not in REDIS_SCHEMES:
        raise _refused("redis_url", settings.redis_url, REDIS_SCHEMES)
    try:
        from openmaas.store.redis import connect
    except ImportError as exc:
        raise RuntimeError(f"redis_url needs the scale extra: pip install 'openmaas[scale]' ({exc})") from exc
    return connect(settings.redis_url)


@dataclass
class Stores:
    """The open stores of one process: records, counters, tasks and responses (all in `database`, but for
    the counters and cached token lookups when Redis is configured); `close` (or `async with`) releases
    the database and the Redis client."""

    records: RecordStore
    counter: QuotaCounter
    tasks: TaskStore
    responses: ResponseStore
    database: SqlStore
    redis: Redis | None = None

    async def close(self) -> None:
        try:
            await self.database.close()
        finally:
            if self.redis is not None:
                await self.redis.aclose()

    async def __aenter__(self) -> Stores:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()


async def open_stores(settings: Settings) -> Stores:
    """Connect to the configured database (and Redis), migrate the schema, and return the stores."""
    url = database_url(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    redis = _redis(settings) if settings.redis_url is not None else None
    database = SqlStore(url)
    stores = Stores(
        records=database, counter=database, tasks=database, responses=database, database=database, redis=redis
    )
    if redis is not None:
        from openmaas.store.auth_cache import CachedRecordStore, RedisAuthEpoch
        from openmaas.store.redis import RedisQuotaCounter

        stores.records = CachedRecordStore(database, RedisAuthEpoch(redis, settings.redis_prefix))
        stores.counter = RedisQuotaCounter(redis, settings.redis_prefix)
    try:
        await database.open()
    except BaseException:
        await stores.close()
        raise
    return stores


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


def job_queue(settings: Settings, *, pool_size: int = 4) -> JobQueue:
    """The shared job queue, in the PostgreSQL database of the tasks (not opened yet)."""
    url = settings.database_url
    if url is None or DATABASE_SCHEMES.get(scheme(url)) != "postgresql+asyncpg":
        raise ValueError("the shared image queue needs a PostgreSQL database_url")
    from openmaas.store.pg_jobs import PostgresJobQueue  # the `scale` extra

    return PostgresJobQueue(f"postgresql://{url.partition('://')[2]}", pool_size=pool_size)


def worker_directory(settings: Settings) -> WorkerDirectory:
    """The worker directory, in Redis, on a client of its own that its `close` releases."""
    if settings.redis_url is None:
        raise ValueError("the worker directory needs redis_url")
    from openmaas.store.redis_directory import RedisWorkerDirectory

    return RedisWorkerDirectory(_redis(settings), settings.redis_prefix)
