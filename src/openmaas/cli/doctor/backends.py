"""The checks of the shared services, when they are configured: PostgreSQL and Redis are reachable, and
their clocks agree with this machine's (API processes decide the quota day each by its own clock, so
machines whose clocks differ start the day at different moments).

Read-only: the probes of `openmaas.store.probes`, one connection and one query each. Passwords in URLs
are never printed.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from openmaas.cli.doctor.findings import Finding, fail, ok, skip, warn
from openmaas.cli.doctor.models import install_hint
from openmaas.settings import Settings
from openmaas.store.probes import ProbeFailed, postgres_clock, redis_clock

TIMEOUT_SECONDS = 5.0
TOLERATED_SKEW_SECONDS = 2.0
_POSTGRES = ("postgresql://", "postgres://", "postgresql+asyncpg://")


def where(url: str) -> str:
    """`host:port/db` of a URL, without its user and password."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    return f"{host}:{parts.port}{parts.path}" if parts.port else f"{host}{parts.path}"


def clock_finding(subject: str, text: str, skew: float) -> Finding:
    if abs(skew) <= TOLERATED_SKEW_SECONDS:
        return ok(subject, f"{text}; its clock agrees with this machine's")
    side = "ahead of" if skew > 0 else "behind"
    return warn(
        subject,
        f"{text}, but its clock is {abs(skew):.0f} s {side} this machine's: sync the clocks (NTP), or "
        "quota days start at different moments on different machines",
    )


async def database(settings: Settings) -> Finding:
    subject = "database"
    url = settings.database_url
    if url is None:
        path = settings.data_dir / "openmaas.db"
        return ok(subject, f"SQLite {path}" + ("" if path.exists() else " (created at the first start)"))
    if not url.startswith(_POSTGRES):
        return skip(subject, f"{urlsplit(url).scheme} database at {where(url)}: not checked")
    try:
        version, skew = await postgres_clock(url, TIMEOUT_SECONDS)
    except ImportError:
        return fail(subject, f"PostgreSQL needs asyncpg: {install_hint('asyncpg')}")
    except ProbeFailed as exc:
        return fail(
            subject,
            f"cannot reach PostgreSQL at {where(url)} ({exc}): check that it runs and "
            "the URL (--database-url, OPENMAAS_DATABASE_URL)",
        )
    return clock_finding(subject, f"PostgreSQL {version} at {where(url)} is reachable", skew)


async def redis(settings: Settings) -> Finding:
    subject = "Redis"
    url = settings.redis_url
    if url is None:
        return skip(subject, "not configured (the scaled-out mode shares quota counters through it)")
    try:
        skew = await redis_clock(url, TIMEOUT_SECONDS)
    except ImportError:
        return fail(subject, f"Redis needs the redis package: {install_hint('redis')}")
    except ProbeFailed as exc:
        return fail(
            subject,
            f"cannot reach Redis at {where(url)} ({exc}): check that it runs and the "
            "URL (--redis-url, OPENMAAS_REDIS_URL)",
        )
    return clock_finding(subject, f"Redis at {where(url)} is reachable", skew)


async def backends(settings: Settings) -> list[Finding]:
    return list(await asyncio.gather(database(settings), redis(settings)))
