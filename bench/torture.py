"""`make torture`: the server under abuse, on 127.0.0.1, bounded in count and time (about 10 minutes).

Not a test: it prints figures, and the marks they should meet (issue 12). On paced instant engines
(`bench/instant_engine.py`: no model, tokens and image steps at a fixed pace), so that what is measured
is the gateway:

1. streams held: 1000 concurrent streams, every one to its `[DONE]`; the time to first chunk, and the
   latency a short call sees while they run, against the same call on the idle server (added latency);
2. abandoned calls: non-streamed calls whose clients give up after a second; how long the engine keeps
   generating for them, and a fresh call right after;
3. a large Schemathesis run (tests/fuzz.py) over every operation: requests, 5xx, failed checks;
4. kill -9 during chat and image work, then a restart: the quota counter against the usage ledger, and
   the image tasks taken up again;
5. SIGTERM under load: readiness, refusals, the time to drain, streams that finished, ended with an
   error event, or were cut; the counter against the ledger and the calls actually answered;
and the server's RSS before and after phases 1-3.

    python -m bench.torture [--streams 1000] [--fuzz-examples 700]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx

from bench.common import REPO, Server, start_server

MODELS = """
include_builtin = false

[[models]]
id = "bench/instant"
task = "chat"
engine = "bench.instant_engine:InstantChatEngine"

[[models]]
id = "bench/paced"
task = "chat"
engine = "bench.instant_engine:InstantChatEngine"
[models.options]
token_interval = 0.1

[[models]]
id = "bench/images"
task = "image"
engine = "bench.instant_engine:InstantImageEngine"
[models.options]
default_size = "64x64"
default_steps = 20
step_interval = 0.1

[[models]]
id = "bench/embedder"
task = "embedding"
engine = "tests.fakes:ScriptedEmbeddingEngine"
"""
USER = [{"role": "user", "content": "Say hello."}]
Figures = list[tuple[str, str]]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


def openmaas(data_dir: Path, *args: str) -> str:
    command = [sys.executable, "-m", "openmaas", *args, "--data-dir", str(data_dir)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout


def counter_and_ledger(data_dir: Path, user: str = "bench") -> tuple[int, int]:
    """Today's calls of `user` by the quota counter (`users list`) and by the ledger (`usage`)."""
    counted = next(
        int(line.split()[-2])
        for line in openmaas(data_dir, "users", "list").splitlines()[1:]
        if line.split()[0] == user
    )
    ledger = sum(int(line.split()[3]) for line in openmaas(data_dir, "usage", user).splitlines()[1:])
    return counted, ledger


@dataclass
class StreamOutcome:
    status: int = 0
    first_chunk: float | None = None
    last_line: bytes = b""
    error: bool = False
    finished: bool = False

    @property
    def done(self) -> bool:
        """Whether the body ended as an OpenAI stream must: with `data: [DONE]`."""
        return self.last_line == b"data: [DONE]"


async def stream(
    session: aiohttp.ClientSession, server: Server, tokens: int, held: list[int]
) -> StreamOutcome:
    """One streamed chat call on the paced model; `held[0]` counts the streams open right now."""
    outcome = StreamOutcome()
    body = {"model": "bench/paced", "messages": USER, "max_tokens": tokens, "stream": True}
    started = time.perf_counter()
    try:
        async with session.post(f"{server.base_url}/v1/chat/completions", json=body) as response:
            outcome.status = response.status
            if response.status != 200:
                return outcome
            held[0] += 1
            held[1] = max(held[1], held[0])
            try:
                async for line in response.content:
                    if outcome.first_chunk is None and line.startswith(b"data: {"):
                        outcome.first_chunk = time.perf_counter() - started
                    outcome.error = outcome.error or line.startswith(b'data: {"error"')
                    outcome.finished = outcome.finished or b'"finish_reason":"length"' in line
                    outcome.last_line = line.strip() or outcome.last_line
            finally:
                held[0] -= 1
    except aiohttp.ClientError:
        pass
    return outcome


async def short_calls(server: Server, count: int) -> list[float]:
    """Latencies of `count` sequential 1-token calls on the instant model."""
    latencies = []
    body = {"model": "bench/instant", "messages": USER, "max_tokens": 1}
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {server.token}"}, timeout=60) as client:
        for _ in range(count):
            started = time.perf_counter()
            response = await client.post(f"{server.base_url}/v1/chat/completions", json=body)
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)
    return latencies


def session_for(server: Server) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        headers={"Authorization": f"Bearer {server.token}"},
        timeout=aiohttp.ClientTimeout(total=300),
    )


async def hold_streams(server: Server, count: int) -> Figures:
    idle = await short_calls(server, 200)
    held = [0, 0]
    async with session_for(server) as session:
        streams = [asyncio.create_task(stream(session, server, 64, held)) for _ in range(count)]
        while held[0] < count and not all(s.done() for s in streams):
            await asyncio.sleep(0.05)
        loaded = await short_calls(server, 50)
        outcomes = [await s for s in streams]
    whole = sum(o.done and o.finished and not o.error for o in outcomes)
    first = [o.first_chunk for o in outcomes if o.first_chunk is not None]
    return [
        ("streams held at once / finished with [DONE]", f"{held[1]} / {whole} of {count}"),
        ("streams: 5xx / other failures", f"{sum(o.status >= 500 for o in outcomes)} / {count - whole}"),
        (
            "streams: time to first chunk p50 / p99",
            f"{percentile(first, 50) * 1e3:.0f} / {percentile(first, 99) * 1e3:.0f} ms",
        ),
        (
            "short call p99: idle / with the streams held",
            f"{percentile(idle, 99) * 1e3:.1f} / {percentile(loaded, 99) * 1e3:.1f} ms",
        ),
        (
            "p99 added latency (held − idle)",
            f"{(percentile(loaded, 99) - percentile(idle, 99)) * 1e3:.1f} ms",
        ),
    ]


async def plain_call(session: aiohttp.ClientSession, server: Server, tokens: int) -> int:
    body = {"model": "bench/paced", "messages": USER, "max_tokens": tokens}
    async with session.post(f"{server.base_url}/v1/chat/completions", json=body) as response:
        await response.read()
        return response.status


def engine_running(server: Server, model: str) -> int:
    text = httpx.get(f"{server.base_url}/metrics").text
    found = re.search(rf'openmaas_engine_running{{model="{re.escape(model)}"}} ([0-9.]+)', text)
    return int(float(found.group(1))) if found else 0


async def abandon_calls(server: Server, count: int) -> Figures:
    body = {"model": "bench/paced", "messages": USER, "max_tokens": 600}  # a minute of tokens each
    async with session_for(server) as session:

        async def give_up() -> None:
            try:
                async with session.post(
                    f"{server.base_url}/v1/chat/completions",
                    json=body,
                    timeout=aiohttp.ClientTimeout(total=1),
                ) as response:
                    await response.read()
            except TimeoutError:
                pass

        await asyncio.gather(*(give_up() for _ in range(count)))
    left = time.perf_counter()
    while engine_running(server, "bench/paced") and time.perf_counter() - left < 60:
        await asyncio.sleep(0.01)
    freed = time.perf_counter() - left
    started = time.perf_counter()
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {server.token}"}, timeout=60) as client:
        fresh = await client.post(
            f"{server.base_url}/v1/chat/completions",
            json={"model": "bench/paced", "messages": USER, "max_tokens": 8},
        )
    return [
        (
            f"abandoned: {count} calls of 60 s, engine rows after they left",
            str(engine_running(server, "bench/paced")),
        ),
        ("abandoned: time until the engine ran none of them", f"{freed * 1e3:.0f} ms"),
        (
            "abandoned: a fresh 8-token call (8 × 0.1 s paced)",
            f"{fresh.status_code} in {(time.perf_counter() - started):.2f} s",
        ),
    ]


def admin_token(server: Server) -> str:
    openmaas(server.data_dir, "users", "add", "root", "--admin", "--daily-limit", "100000000")
    return openmaas(server.data_dir, "tokens", "create", "root").strip()


def fuzz_server(server: Server, examples: int) -> Figures:
    sys.path.insert(0, str(REPO))
    from tests.fuzz import fuzz  # the fuzz test's driver: same checks, more examples

    token = admin_token(server)
    started = time.perf_counter()
    report = fuzz(
        server.base_url,
        token,
        examples=examples,
        seed=20261206,
        skip=lambda case: case.method == "DELETE" and "token" in case.path_parameters,
    )
    for failure in report.failures:
        print(f"  fuzz failure: {failure[:2000]}", flush=True)
    return [
        ("fuzz: operations / requests", f"{len(report.operations)} / {report.requests}"),
        ("fuzz: 5xx / failed checks", f"{report.server_errors} / {len(report.failures)}"),
        ("fuzz: statuses", ", ".join(f"{s}×{n}" for s, n in sorted(report.statuses.items()))),
        ("fuzz: time", f"{time.perf_counter() - started:.0f} s"),
    ]


async def chat_and_images_then_kill(server: Server) -> int:
    """200 chat calls and 20 image tasks, then kill -9 while they run; how many tasks were submitted."""
    async with session_for(server) as session:
        tasks = []
        for _ in range(20):
            async with session.post(
                f"{server.base_url}/v1/images/generations",
                json={"model": "bench/images", "prompt": "a cat"},
                headers={"X-ModelScope-Async-Mode": "true"},
            ) as response:
                tasks.append((await response.json())["task_id"])
        held = [0, 0]
        calls: list[asyncio.Task[object]] = [
            *(asyncio.create_task(stream(session, server, 30, held)) for _ in range(100)),
            *(asyncio.create_task(plain_call(session, server, 30)) for _ in range(100)),
        ]
        await asyncio.sleep(1.5)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(10)
        await asyncio.gather(*calls, return_exceptions=True)
    return len(tasks)


def wait_for_tasks(server: Server, count: int) -> dict[str, int]:
    headers = {"Authorization": f"Bearer {server.token}"}
    deadline = time.monotonic() + 120
    while True:
        listed = httpx.get(f"{server.base_url}/v1/tasks?limit=100", headers=headers, timeout=30).json()[
            "data"
        ]
        states = {
            s: sum(t["task_status"] == s for t in listed) for s in ("SUCCEED", "FAILED", "PENDING", "RUNNING")
        }
        if states["SUCCEED"] + states["FAILED"] == count or time.monotonic() > deadline:
            return states
        time.sleep(0.5)


def kill_9() -> Figures:
    data_dir = Path(tempfile.mkdtemp(prefix="openmaas-torture-"))
    server = start_server(MODELS, data_dir=data_dir, settings={"image_workers": "2"})
    submitted = asyncio.run(chat_and_images_then_kill(server))
    counted, ledger = counter_and_ledger(data_dir)
    restarted = start_server(MODELS, data_dir=data_dir, settings={"image_workers": "2"})
    try:
        states = wait_for_tasks(restarted, submitted)
    finally:
        restarted.stop()
    after_counted, after_ledger = counter_and_ledger(data_dir)
    shutil.rmtree(data_dir, ignore_errors=True)
    return [
        ("kill -9: counter / ledger right after", f"{counted} / {ledger}"),
        (
            "kill -9: image tasks after a restart (succeeded / failed)",
            f"{states['SUCCEED']} / {states['FAILED']} of {submitted}",
        ),
        ("kill -9: counter / ledger once the tasks ended", f"{after_counted} / {after_ledger}"),
        (
            "kill -9: calls lost or double-counted (|counter − ledger|)",
            str(abs(counted - ledger) + abs(after_counted - after_ledger)),
        ),
    ]


async def sigterm_under_load(server: Server) -> tuple[list[StreamOutcome], float, float, int]:
    """300 streams (half of 1 s, half of 30 s), SIGTERM once they run; the outcomes, seconds to
    readiness 503 and to exit, and how many new calls were refused meanwhile."""
    async with session_for(server) as session:
        held = [0, 0]
        streams = [
            asyncio.create_task(stream(session, server, 10 if i % 2 else 300, held)) for i in range(300)
        ]
        while held[0] < 300 and not all(s.done() for s in streams):
            await asyncio.sleep(0.05)
        sent = time.perf_counter()
        server.process.send_signal(signal.SIGTERM)
        async with httpx.AsyncClient(timeout=5) as probe:
            while (await probe.get(f"{server.base_url}/readyz")).status_code != 503:
                pass
            ready_503 = time.perf_counter() - sent
            refused = 0
            for _ in range(20):
                answer = await probe.post(
                    f"{server.base_url}/v1/chat/completions",
                    json={"model": "bench/instant", "messages": USER},
                    headers={"Authorization": f"Bearer {server.token}"},
                )
                refused += answer.status_code == 503
        outcomes = [await s for s in streams]
        await asyncio.to_thread(server.process.wait, 60)
        return outcomes, ready_503, time.perf_counter() - sent, refused


def sigterm() -> Figures:
    log = Path(tempfile.mkdtemp(prefix="openmaas-torture-log-")) / "server.log"
    server = start_server(MODELS, settings={"shutdown_grace": "3"}, log_path=log)
    outcomes, ready_503, drained, refused = asyncio.run(sigterm_under_load(server))
    finished = sum(o.finished and o.done and not o.error for o in outcomes)
    ended = sum(o.error and o.done for o in outcomes)
    cut = len(outcomes) - finished - ended
    counted, ledger = counter_and_ledger(server.data_dir)
    tracebacks = log.read_text(errors="replace").count("Traceback")
    return [
        ("SIGTERM: readiness 503 after", f"{ready_503 * 1e3:.0f} ms"),
        ("SIGTERM: new calls refused with 503", f"{refused} of 20"),
        (
            "SIGTERM: streams finished / ended by an error event / cut",
            f"{finished} / {ended} / {cut} of {len(outcomes)}",
        ),
        ("SIGTERM: time to drain and exit (grace 3 s)", f"{drained:.1f} s"),
        ("SIGTERM: counter / ledger / calls answered", f"{counted} / {ledger} / {finished}"),
        ("SIGTERM: calls lost or double-counted", str(abs(counted - ledger) + abs(ledger - finished))),
        ("SIGTERM: tracebacks in the log", str(tracebacks)),
    ]


def report(title: str, figures: Figures) -> None:
    print(title, flush=True)
    for name, value in figures:
        print(f"  {name:<62} {value}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--fuzz-examples", type=int, default=700, help="per operation (over 10,000 requests)")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))  # servers inherit it

    server = start_server(MODELS)
    try:
        rss_before = rss_mb(server.process.pid)
        report(
            "1. streams held (paced instant engine, 64 tokens at 10/s)",
            asyncio.run(hold_streams(server, args.streams)),
        )
        report("2. abandoned non-streamed calls", asyncio.run(abandon_calls(server, 100)))
        report("3. schema fuzzing (Schemathesis, every operation)", fuzz_server(server, args.fuzz_examples))
        report(
            "   server memory",
            [("RSS before / after phases 1-3", f"{rss_before:.0f} / {rss_mb(server.process.pid):.0f} MB")],
        )
    finally:
        server.stop()
    report("4. kill -9 during chat and image work, then a restart", kill_9())
    report("5. SIGTERM under load (300 streams, grace 3 s)", sigterm())


if __name__ == "__main__":
    main()
