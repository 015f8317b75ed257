"""httpx against aiohttp as the client a remote engine uses to reach its upstream.

One process (pinned to CPU 1) relays answers from the fake upstream (`bench.fake_upstream`, CPU 0) the
way a remote engine does: POST, then read the whole answer, or read a stream of 64 chunks line by line.
Printed per client: the relaying process's CPU per request and per chunk, requests/s and latency.

    python -m bench.upstream_clients [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import aiohttp
import httpx
import uvloop

from bench.common import REPO, pinned

BODY = b'{"model":"bench-model","messages":[{"role":"user","content":"Say hello."}],"max_tokens":64%s}'
Relay = Callable[[bool], Awaitable[int]]


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(relay: Relay, stream: bool, requests: int, concurrency: int) -> tuple[float, float, float, int]:
    """(CPU seconds, wall seconds, p99 seconds, chunks) for `requests` relayed answers."""
    remaining, latencies, chunks = requests, [], 0

    async def worker() -> None:
        nonlocal remaining, chunks
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            relayed = await relay(stream)  # (not `chunks += await …`: that reads `chunks` before awaiting)
            chunks += relayed
            latencies.append(time.perf_counter() - started)

    before, started = cpu(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    latencies.sort()
    return cpu() - before, wall, latencies[int(0.99 * (len(latencies) - 1))], chunks


def httpx_relay(client: httpx.AsyncClient, url: str) -> Relay:
    async def relay(stream: bool) -> int:
        body = BODY % (b',"stream":true' if stream else b"")
        request = client.build_request(
            "POST", url, content=body, headers={"content-type": "application/json"}
        )
        response = await client.send(request, stream=True)
        try:
            if not stream:
                await response.aread()
                return 0
            return len([line async for line in response.aiter_lines() if line.startswith("data: {")])
        finally:
            await response.aclose()

    return relay


def aiohttp_relay(session: aiohttp.ClientSession, url: str) -> Relay:
    async def relay(stream: bool) -> int:
        body = BODY % (b',"stream":true' if stream else b"")
        async with session.post(url, data=body, headers={"content-type": "application/json"}) as response:
            if not stream:
                await response.read()
                return 0
            return len([line async for line in response.content if line.startswith(b"data: {")])

    return relay


async def measure(requests: int) -> None:
    url = f"http://127.0.0.1:{PORT}/v1/chat/completions"
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
    async with (
        httpx.AsyncClient(limits=limits, timeout=60) as client,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000)) as session,
    ):
        clients = {"httpx": httpx_relay(client, url), "aiohttp": aiohttp_relay(session, url)}
        for relay in clients.values():
            await run(relay, False, 200, 16)  # warm-up: connections, caches
        for concurrency in (1, 64):
            for name, relay in clients.items():
                spent, wall, p99, _ = await run(relay, False, requests, concurrency)
                print(
                    f"  {name:<8} whole answers, {concurrency:>2} concurrent: "
                    f"{spent / requests * 1e6:6.0f} µs CPU/request, "
                    f"{requests / wall:6.0f} req/s, p99 {p99 * 1e3:7.2f} ms",
                    flush=True,
                )
        streams = max(100, requests // 5)
        for name, relay in clients.items():
            spent, wall, p99, chunks = await run(relay, True, streams, 16)
            print(
                f"  {name:<8} 64-chunk streams, 16 concurrent: {spent / chunks * 1e6:6.1f} µs CPU/chunk, "
                f"{chunks / wall:7.0f} chunks/s, {chunks / streams:.0f} chunks/stream, "
                f"p99 {p99 * 1e3:7.2f} ms",
                flush=True,
            )


PORT = 18001


def main() -> None:
    global PORT
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    from bench.common import free_port

    PORT = free_port()
    upstream = subprocess.Popen(
        pinned([sys.executable, "-m", "bench.fake_upstream", "--port", str(PORT)], 0),
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{PORT}/v1/models", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        if (os.cpu_count() or 1) > 1:
            os.sched_setaffinity(0, {1})
        print("Upstream client: CPU of relaying answers from a fast fake upstream (this process on CPU 1)")
        uvloop.run(measure(args.requests))  # the loop uvicorn runs the gateway on
    finally:
        upstream.terminate()
        upstream.wait(10)


if __name__ == "__main__":
    main()
