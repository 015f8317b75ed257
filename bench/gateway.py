"""Gateway overhead: the server's own CPU time per request and per streamed chunk.

The engine answers at once (`bench.instant_engine`), so everything measured is OpenMaaS itself: HTTP,
parsing, auth, quota (a counted call), routing, formatting, metrics, logs and the usage ledger. It runs
twice: on the embedded store (SQLite) and scaled out (PostgreSQL records + Redis counters and token
cache), when both are reachable. The server runs pinned to CPU 1 and the load generator to CPU 0 when
the machine has two. At 64 concurrent requests the latency is all gateway (the engine takes no time):
its p99 is the latency the gateway adds.

    python -m bench.gateway [--requests 3000] [--store sqlite|scaled|both]
"""

from __future__ import annotations

import argparse
import asyncio

from bench.common import cpu_seconds, load, scaled_out_env, start_server

MODELS = """
include_builtin = false
[[models]]
id = "bench/instant"
task = "chat"
engine = "bench.instant_engine:InstantChatEngine"
"""


def measure(requests: int, env_extra: dict[str, str] | None = None) -> list[tuple[str, str]]:
    server = start_server(MODELS, env_extra=env_extra)
    try:
        messages = [{"role": "user", "content": "Say hello."}]
        plain = {"model": "bench/instant", "messages": messages, "max_tokens": 1}
        short_stream = {**plain, "stream": True}
        long_stream = {**plain, "stream": True, "max_tokens": 256}
        asyncio.run(load(server, plain, requests=200, concurrency=8))  # warm-up

        figures: list[tuple[str, str]] = []
        for concurrency in (1, 16, 64):
            before = cpu_seconds(server.process.pid)
            result = asyncio.run(load(server, plain, requests=requests, concurrency=concurrency))
            cpu = cpu_seconds(server.process.pid) - before
            figures.append(
                (f"non-streamed, {concurrency} concurrent: CPU per request", f"{cpu / requests * 1e6:.0f} µs")
            )
            figures.append(
                (
                    f"non-streamed, {concurrency} concurrent: throughput",
                    f"{result.rps:.0f} req/s, p50 {result.percentile(50) * 1e3:.2f} ms, "
                    f"p99 {result.percentile(99) * 1e3:.2f} ms",
                )
            )

        stream_requests = max(100, requests // 10)
        before = cpu_seconds(server.process.pid)
        short = asyncio.run(load(server, short_stream, requests=stream_requests, concurrency=8))
        short_cpu = cpu_seconds(server.process.pid) - before
        before = cpu_seconds(server.process.pid)
        long = asyncio.run(load(server, long_stream, requests=stream_requests, concurrency=8))
        long_cpu = cpu_seconds(server.process.pid) - before
        extra_chunks = long.chunks - short.chunks
        per_chunk = (long_cpu - short_cpu) / extra_chunks
        figures.append(("streamed: CPU per extra chunk", f"{per_chunk * 1e6:.1f} µs"))
        figures.append(
            ("streamed: CPU per 1-token stream request", f"{short_cpu / stream_requests * 1e6:.0f} µs")
        )
        return figures
    finally:
        server.stop()


def report(title: str, figures: list[tuple[str, str]]) -> None:
    print(title)
    for name, value in figures:
        print(f"  {name:<52} {value}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--store", choices=["sqlite", "scaled", "both"], default="both")
    args = parser.parse_args()
    if args.store in ("sqlite", "both"):
        report("Gateway overhead (instant engine; auth + quota on SQLite)", measure(args.requests))
    if args.store in ("scaled", "both"):
        print("Gateway overhead (instant engine; auth + quota on PostgreSQL + Redis)")
        with scaled_out_env() as env:
            if env is not None:
                report("", measure(args.requests, env))


if __name__ == "__main__":
    main()
