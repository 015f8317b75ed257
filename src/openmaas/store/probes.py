"""Read-only probes of the shared services for `openmaas doctor`: one connection, one query for the
server's time (and version), closed again; no schema is created or migrated.

A probe raises `ImportError` when its driver is not installed (the `scale` extra), and `ProbeFailed`
when the service cannot be reached.
"""

from __future__ import annotations

import asyncio
import time


class ProbeFailed(Exception):
    """The service could not be reached; the message is the underlying error, `Type: text`."""


async def postgres_clock(url: str, timeout_seconds: float) -> tuple[str, float]:
    """The server's version, and how far its clock is ahead of this machine's (seconds)."""
    import asyncpg

    dsn = "postgresql://" + url.split("://", 1)[1]
    try:
        connection = await asyncpg.connect(dsn, timeout=timeout_seconds)
        try:
            before = time.time()
            row = await connection.fetchrow("SELECT current_setting('server_version'), now()")
            local = (before + time.time()) / 2
        finally:
            await connection.close()
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        raise ProbeFailed(f"{type(exc).__name__}: {exc}") from exc
    return row[0], row[1].timestamp() - local


async def redis_clock(url: str, timeout_seconds: float) -> float:
    """How far the Redis server's clock is ahead of this machine's (seconds)."""
    from redis.exceptions import RedisError

    from openmaas.store.redis import connect

    client = connect(url)
    try:
        before = time.time()
        seconds, micros = await asyncio.wait_for(client.time(), timeout_seconds)
        local = (before + time.time()) / 2
    except (TimeoutError, OSError, RedisError) as exc:
        raise ProbeFailed(f"{type(exc).__name__}: {exc}") from exc
    finally:
        await client.aclose()
    return seconds + micros / 1e6 - local
