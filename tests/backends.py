"""Real PostgreSQL and Redis for the tests, isolated per test run.

Every machine here (CI's included) runs PostgreSQL and Redis on 127.0.0.1. Each test run gets its own
PostgreSQL database and its own Redis key prefix, so runs by several engineers at once never collide,
and both are removed at the end. When a service is absent the tests that need it are skipped with the
reason, except under `CI=true`, where they fail: CI must not pass by skipping them.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

POSTGRES_ADMIN_URL = os.environ.get("OPENMAAS_TEST_POSTGRES", "postgresql://root@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("OPENMAAS_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _unavailable(service: str, exc: BaseException) -> None:
    reason = f"{service} is not reachable ({type(exc).__name__}: {exc})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; under CI=true the tests that need it must run")
    pytest.skip(reason)


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine to the end in a thread of its own (fixtures may be set up inside a running loop)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coroutine).result()


async def _postgres(admin_url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(admin_url, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def run_database(name: str) -> Iterator[str]:
    """Create a database for this test run; yields its `postgresql://` URL and drops it afterwards."""
    import asyncpg

    try:
        _run(_postgres(POSTGRES_ADMIN_URL, f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        _unavailable("PostgreSQL", exc)
    base, _, _ = POSTGRES_ADMIN_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        _run(_postgres(POSTGRES_ADMIN_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def unique_name(kind: str) -> str:
    return f"openmaas_{kind}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


async def _redis_ping(url: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=3)
    try:
        await client.ping()
    finally:
        await client.aclose()


async def _redis_clear(url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def run_redis_prefix(prefix: str) -> Iterator[str]:
    """Check Redis is there; yields a key prefix for this run and deletes its keys afterwards."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    try:
        _run(_redis_ping(REDIS_URL))
    except (OSError, RedisConnectionError) as exc:
        _unavailable("Redis", exc)
    try:
        yield prefix
    finally:
        _run(_redis_clear(REDIS_URL, prefix))
