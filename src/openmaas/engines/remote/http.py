"""The HTTP client of remote engines: one aiohttp session per engine, with the failures sorted out.

aiohttp rather than httpx: relaying a stream through it costs a fraction of the CPU per chunk and it
stays steady at high concurrency (`bench/upstream_clients.py` measures both on this machine).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from openmaas.domain.errors import InvalidRequest
from openmaas.engines.remote.failover import ReplicaFailed


@dataclass(frozen=True)
class Timeouts:
    connect: float = 5.0
    #: Longest silence while reading an answer (between two chunks of a stream).
    read: float = 300.0


#: A health check that takes longer than this has failed.
HEALTH_TIMEOUT = aiohttp.ClientTimeout(total=5)


def new_session(timeouts: Timeouts, max_connections: int = 1000) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=max_connections, ttl_dns_cache=300, enable_cleanup_closed=True)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeouts.connect, sock_read=timeouts.read)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False)


def error_message(body: bytes) -> str:
    """The message of an error body in OpenAI's shape (or ours), else its first characters."""
    with contextlib.suppress(ValueError):
        data: Any = orjson.loads(body)
        if isinstance(data, dict):
            error = data.get("error", data)
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                return str(error["message"])
            if isinstance(data.get("detail"), str):
                return str(data["detail"])
    return body[:300].decode(errors="replace")


@contextlib.asynccontextmanager
async def post(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> AsyncIterator[aiohttp.ClientResponse]:
    """POST and yield a 2xx response; any other outcome raises `ReplicaFailed` (the replica's fault)
    or `InvalidRequest` (a 4xx about the request itself, which no other replica would take either)."""
    try:
        response = await session.post(url, data=body, headers=headers)
    except aiohttp.ClientConnectorError as exc:
        raise ReplicaFailed(f"cannot connect: {exc.os_error or exc}", refused=True) from exc
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise ReplicaFailed(f"request failed: {type(exc).__name__}") from exc
    try:
        if response.status >= 300:
            await _raise_for(response)
        yield response
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise ReplicaFailed(f"answer broken off: {type(exc).__name__}") from exc
    finally:
        response.release()


async def _raise_for(response: aiohttp.ClientResponse) -> None:
    try:
        message = error_message(await response.read())
    except (TimeoutError, aiohttp.ClientError):
        message = response.reason or ""
    status = response.status
    if status in (400, 413, 422):
        raise InvalidRequest(f"The model refused the request: {message}")
    raise ReplicaFailed(f"HTTP {status}: {message}", busy=status in (429, 503))


async def lines(content: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    """The complete lines of a body as they arrive (without their line ending): one split per network
    read rather than one `readline` per line, which matters at one line per streamed token."""
    pending = b""
    while True:
        data = await content.readany()
        if not data:
            break
        *complete, pending = (pending + data).split(b"\n")
        for line in complete:
            yield line.removesuffix(b"\r")
    if pending:
        yield pending.removesuffix(b"\r")
