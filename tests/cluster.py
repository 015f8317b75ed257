"""Real processes of the scaled-out mode for tests: engine workers and API processes on one PostgreSQL
and Redis, each on a free port of 127.0.0.1."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TypeVar

import httpx

from tests.servers import REPO, ServerProcess, _env, free_port

WORKER_SECRET = "test-worker-secret-0123456789"
T = TypeVar("T")


def cluster_env(redis_url: str, prefix: str, database_url: str | None = None) -> dict[str, str]:
    env = {
        **_env(),
        "OPENMAAS_REDIS_URL": redis_url,
        "OPENMAAS_REDIS_PREFIX": prefix,
        "OPENMAAS_WORKER_SECRET": WORKER_SECRET,
        "OPENMAAS_WORKER_HEARTBEAT_SECONDS": "0.5",
        "OPENMAAS_LOG_LEVEL": "WARNING",
    }
    if database_url is not None:
        env["OPENMAAS_DATABASE_URL"] = database_url
    return env


@contextlib.contextmanager
def process(
    command: list[str],
    env: dict[str, str],
    log_path: Path,
    ready_url: str,
    *,
    headers: dict[str, str] | None = None,
    python: str = sys.executable,
    ready_timeout: float = 120,
) -> Iterator[ServerProcess]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log_file:
        popen = subprocess.Popen(
            [python, "-m", "openmaas", *command],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=REPO,
        )
    base = ready_url.split("/", 3)
    server = ServerProcess(popen, f"{base[0]}//{base[2]}", log_path.parent, log_path)
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if popen.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {popen.returncode}:\n{server.log()}")
            with contextlib.suppress(httpx.HTTPError):
                response = httpx.get(ready_url, headers=headers, timeout=2)
                if response.status_code == 200 and "loading" not in response.text:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{command[0]} not ready:\n{server.log()}")
            time.sleep(0.1)
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def worker_process(
    data_dir: Path,
    models_file: Path,
    env: dict[str, str],
    *,
    python: str = sys.executable,
    ready_timeout: float = 120,
) -> Iterator[ServerProcess]:
    """An `openmaas worker`; `python` may be another virtualenv's (the vLLM one)."""
    port = free_port()
    command = ["worker", "--models", str(models_file), "--port", str(port), "--data-dir", str(data_dir)]
    headers = {"Authorization": f"Bearer {WORKER_SECRET}"}
    with process(
        command,
        env,
        data_dir / f"worker-{port}.log",
        f"http://127.0.0.1:{port}/internal/health",
        headers=headers,
        python=python,
        ready_timeout=ready_timeout,
    ) as worker:
        yield worker


@contextlib.contextmanager
def api_process(data_dir: Path, models_file: Path, env: dict[str, str]) -> Iterator[ServerProcess]:
    port = free_port()
    command = ["serve", "--models", str(models_file), "--port", str(port), "--data-dir", str(data_dir)]
    with process(command, env, data_dir / f"api-{port}.log", f"http://127.0.0.1:{port}/readyz") as api:
        yield api


@contextlib.contextmanager
def started_together(*processes: AbstractContextManager[T]) -> Iterator[list[T]]:
    """Enter several of the process managers above at once and yield what each yields.

    Each waits for its own process to be ready; a start-up is seconds of imports and loading, so
    overlapping them saves most of it. If one fails, the others that started are stopped."""
    with contextlib.ExitStack() as stack:
        with ThreadPoolExecutor(len(processes)) as pool:
            starts = [pool.submit(process.__enter__) for process in processes]
        values: list[T] = []
        failure: BaseException | None = None
        for process, start in zip(processes, starts, strict=True):
            try:
                values.append(start.result())
            except BaseException as error:
                failure = failure or error
            else:
                stack.push(process.__exit__)
        if failure is not None:
            raise failure
        yield values
