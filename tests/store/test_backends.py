"""The backend factory: each URL scheme it accepts gives its implementation; an unknown one is refused
with an error that names the setting and the schemes it takes."""

from __future__ import annotations

from pathlib import Path

import pytest

from openmaas.settings import Settings
from openmaas.store.auth_cache import CachedRecordStore
from openmaas.store.backends import database_url, job_queue, open_stores, task_files, worker_directory
from openmaas.store.files import LocalTaskFiles
from openmaas.store.pg_jobs import PostgresJobQueue
from openmaas.store.redis import RedisQuotaCounter
from openmaas.store.redis_directory import RedisWorkerDirectory
from openmaas.store.s3_files import S3TaskFiles
from openmaas.store.sql import SqlStore


def settings(tmp_path: Path, **values: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", **values)  # type: ignore[arg-type]


def test_database_urls_by_scheme(tmp_path: Path) -> None:
    assert database_url(settings(tmp_path)) == f"sqlite:///{tmp_path / 'data' / 'openmaas.db'}"
    assert database_url(settings(tmp_path, database_url="sqlite:////x/a.db")) == "sqlite:////x/a.db"
    for given in ("postgresql://u@h:5432/db", "postgres://u@h:5432/db", "postgresql+asyncpg://u@h:5432/db"):
        assert database_url(settings(tmp_path, database_url=given)) == "postgresql+asyncpg://u@h:5432/db"


@pytest.mark.parametrize("url", ["mysql://u@h/db", "oracle://h/db", "no-scheme-at-all"])
def test_an_unknown_database_scheme_is_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(
        ValueError, match=r"database_url: unknown scheme .*use one of sqlite://, postgresql://"
    ):
        database_url(settings(tmp_path, database_url=url))


async def test_sqlite_alone_keeps_everything_in_one_database(tmp_path: Path) -> None:
    async with await open_stores(settings(tmp_path)) as stores:
        assert isinstance(stores.records, SqlStore)
        assert stores.counter is stores.records is stores.tasks is stores.responses
        assert await stores.records.list_users() == []


async def test_redis_counts_calls_and_caches_token_lookups(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    given = settings(tmp_path, redis_url=redis_url, redis_prefix=redis_prefix)
    async with await open_stores(given) as stores:
        assert isinstance(stores.records, CachedRecordStore)
        assert isinstance(stores.records.records, SqlStore) and stores.tasks is stores.records.records
        assert isinstance(stores.counter, RedisQuotaCounter)
        assert await stores.records.list_users() == []


async def test_postgresql_and_redis(
    tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str
) -> None:
    given = settings(tmp_path, database_url=postgres_url, redis_url=redis_url, redis_prefix=redis_prefix)
    async with await open_stores(given) as stores:
        assert isinstance(stores.tasks, SqlStore) and stores.tasks.url.startswith("postgresql+asyncpg://")
        assert await stores.tasks.pending_count() == 0
    jobs = job_queue(given)
    assert isinstance(jobs, PostgresJobQueue) and jobs.conninfo == postgres_url
    directory = worker_directory(given)
    assert isinstance(directory, RedisWorkerDirectory)
    assert await directory.live() == []
    await directory.close()


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379/0", "rediss://127.0.0.1:6380/0", "unix:///run/redis/redis.sock"]
)
async def test_redis_schemes(tmp_path: Path, url: str) -> None:
    directory = worker_directory(settings(tmp_path, redis_url=url))  # connects at its first command
    assert isinstance(directory, RedisWorkerDirectory)
    await directory.close()


def test_an_unknown_redis_scheme_is_refused(tmp_path: Path) -> None:
    given = settings(tmp_path, redis_url="memcached://h:11211")
    with pytest.raises(ValueError, match=r"redis_url: unknown scheme 'memcached://'; use one of redis://"):
        worker_directory(given)


async def test_an_unknown_redis_scheme_is_refused_before_the_database_opens(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="redis_url: unknown scheme"):
        await open_stores(settings(tmp_path, redis_url="memcached://h:11211"))
    assert not (tmp_path / "data" / "openmaas.db").exists()


def test_the_job_queue_needs_postgresql(tmp_path: Path) -> None:
    for given in (settings(tmp_path), settings(tmp_path, database_url="sqlite:////x/a.db")):
        with pytest.raises(ValueError, match="the shared image queue needs a PostgreSQL database_url"):
            job_queue(given)


def test_the_worker_directory_needs_redis(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="the worker directory needs redis_url"):
        worker_directory(settings(tmp_path))


def test_task_files_in_the_data_dir_or_a_bucket(tmp_path: Path) -> None:
    assert isinstance(task_files(settings(tmp_path)), LocalTaskFiles)
    in_bucket = task_files(settings(tmp_path, s3_bucket="images", s3_endpoint_url="http://127.0.0.1:9"))
    assert isinstance(in_bucket, S3TaskFiles) and in_bucket.bucket == "images"
