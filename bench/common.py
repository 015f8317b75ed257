"""Shared pieces of the benchmarks: a server process to measure, its CPU time, and a load generator."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx

REPO = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def pinned(command: list[str], cpu: int | None) -> list[str]:
    """Run on one CPU, and ahead of unrelated jobs sharing the machine when we may (root)."""
    if cpu is not None and shutil.which("taskset") and (os.cpu_count() or 1) > cpu:
        command = ["taskset", "-c", str(cpu), *command]
    if os.geteuid() == 0:
        command = ["nice", "-n", str(PRIORITY), *command]
    return command


PRIORITY = -15


def prioritize(pid: int) -> None:
    """Raise the scheduling priority of a process started in its own session: with autogroup
    scheduling, `nice` only ranks processes within one session, so its session's group is reniced."""
    with contextlib.suppress(OSError):
        if os.geteuid() == 0 and os.getsid(pid) == pid:
            Path(f"/proc/{pid}/autogroup").write_text(str(PRIORITY))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    token: str
    data_dir: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_server(
    models_toml: str,
    *,
    cpu: int | None = 1,
    ready_timeout: float = 300,
    env_extra: dict[str, str] | None = None,
    port: int | None = None,
    settings: dict[str, str] | None = None,
    data_dir: Path | None = None,
    log_path: Path | None = None,
) -> Server:
    """Start `openmaas serve` on a free port with the given registry; returns once /readyz is 200.
    `env_extra`: more environment (e.g. `scaled_out_env()` for PostgreSQL + Redis); `settings`: more
    settings by name (`{"image_workers": "4"}` becomes `OPENMAAS_IMAGE_WORKERS=4`); `data_dir`: a data
    dir kept between runs (converted model caches), else a fresh one; `log_path`: where the server's
    output goes (else nowhere)."""
    if data_dir is None:
        data_dir = Path(tempfile.mkdtemp(prefix="openmaas-bench-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    models = data_dir / "models.toml"
    models.write_text(models_toml)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "HF_HUB_OFFLINE": "1",
        "OPENMAAS_LOG_LEVEL": "WARNING",
        **(env_extra or {}),
        **{f"OPENMAAS_{name.upper()}": value for name, value in (settings or {}).items()},
    }
    run = [sys.executable, "-m", "openmaas"]
    subprocess.run(  # fails harmlessly when a kept data dir has the user already
        [*run, "users", "add", "bench", "--daily-limit", "100000000", "--data-dir", str(data_dir)],
        check=False,
        env=env,
        capture_output=True,
    )
    token = subprocess.run(
        [*run, "tokens", "create", "bench", "--data-dir", str(data_dir)],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if port is None:
        port = free_port()
    command = pinned(
        [*run, "serve", "--port", str(port), "--data-dir", str(data_dir), "--models", str(models)], cpu
    )
    with contextlib.ExitStack() as files:
        output = files.enter_context(log_path.open("ab")) if log_path is not None else subprocess.DEVNULL
        process = subprocess.Popen(command, env=env, stdout=output, stderr=output, start_new_session=True)
    prioritize(process.pid)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return Server(process, base, token, data_dir)
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise RuntimeError("server exited during start-up")
        time.sleep(0.2)
    process.kill()
    raise TimeoutError("server not ready")


@dataclass
class LoadResult:
    requests: int
    seconds: float
    latencies: list[float]
    chunks: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def load(
    server: Server,
    body: dict[str, object],
    *,
    requests: int,
    concurrency: int,
    path: str = "/v1/chat/completions",
) -> LoadResult:
    """Closed-loop load: `concurrency` workers send `requests` in total; every answer is checked."""
    url = f"{server.base_url}{path}"
    headers = {"Authorization": f"Bearer {server.token}"}
    latencies: list[float] = []
    chunks = 0
    remaining = requests
    stream = bool(body.get("stream"))

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal remaining, chunks
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            async with session.post(url, json=body, headers=headers) as response:
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}: {await response.text()}")
                if stream:
                    async for line in response.content:
                        if line.startswith(b"data: {"):
                            chunks += 1
                else:
                    await response.read()
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return LoadResult(requests, elapsed, latencies, chunks)


POSTGRES_ADMIN_URL = os.environ.get("OPENMAAS_BENCH_POSTGRES", "postgresql://root@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("OPENMAAS_BENCH_REDIS", "redis://127.0.0.1:6379/0")


@contextlib.contextmanager
def scaled_out_env() -> Iterator[dict[str, str] | None]:
    """Settings for the scaled-out mode on a PostgreSQL database and Redis prefix of this run (both
    removed afterwards); None, with a printed note, when either is not reachable."""
    import asyncpg
    from redis import Redis

    name = f"openmaas_bench_{os.getpid()}"
    try:
        Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        asyncio.run(_postgres(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, ConnectionError) as exc:
        print(f"  (PostgreSQL + Redis not reachable, scaled-out figures skipped: {exc})")
        yield None
        return
    base = POSTGRES_ADMIN_URL.rpartition("/")[0]
    try:
        yield {
            "OPENMAAS_DATABASE_URL": f"{base}/{name}",
            "OPENMAAS_REDIS_URL": REDIS_URL,
            "OPENMAAS_REDIS_PREFIX": name,
        }
    finally:
        asyncio.run(_postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        client = Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{name}:*", count=1000))
        if keys:
            client.delete(*keys)


async def _postgres(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()
