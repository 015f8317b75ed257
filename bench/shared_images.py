"""Image tasks through the shared queue: one API process and 1 or 2 image worker processes, each with a
data dir of its own, sharing PostgreSQL (tasks, queue), Redis (counters, worker directory) and a local
S3-compatible server (outputs; `tests.s3_server`, so this needs the dev extra).

Throughput: the demo model as in `bench.images`, one task at a time per worker process. Overhead: the
instant engine with one worker process, per task: wall time, and the CPU of the API process and of the
worker process (submit, task row, job in the queue, claim, progress, PNG to object storage, end of
task, ledger, polling).

    python -m bench.shared_images [--tasks 16] [--instant-tasks 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from bench.common import REPO, Server, cpu_seconds, free_port, scaled_out_env, start_server
from bench.images import DEMO, DEMO_MODELS, INSTANT_MODELS, burst

SECRET = "bench-worker-secret-0123456789"


@contextlib.contextmanager
def object_storage() -> Iterator[dict[str, str]]:
    from tests.object_storage import create_bucket, s3_env, s3_server

    with s3_server(Path(tempfile.mkdtemp(prefix="openmaas-bench-s3-"))) as endpoint:
        create_bucket(endpoint, "bench")
        yield s3_env(endpoint, "bench")


@contextlib.contextmanager
def worker(models_toml: str, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    data_dir = Path(tempfile.mkdtemp(prefix="openmaas-bench-worker-"))
    models = data_dir / "models.toml"
    models.write_text(models_toml)
    port = free_port()
    command = [sys.executable, "-m", "openmaas", "worker", "--models", str(models), "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--data-dir", str(data_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
    )
    try:
        deadline = time.monotonic() + 300
        headers = {"Authorization": f"Bearer {SECRET}"}
        while True:
            with contextlib.suppress(httpx.HTTPError):
                health = httpx.get(f"http://127.0.0.1:{port}/internal/health", headers=headers, timeout=2)
                if health.status_code == 200 and "loading" not in health.text:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("image worker did not start")
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        process.wait(30)


@contextlib.contextmanager
def cluster(models_toml: str, model: str, workers: int) -> Iterator[tuple[Server, list[int]] | None]:
    """An API process and `workers` image workers; yields (the API server, the workers' pids)."""
    with scaled_out_env() as scaled, object_storage() as s3:
        if scaled is None:
            yield None
            return
        env = {
            **s3,
            **scaled,
            "PYTHONPATH": str(REPO),
            "HF_HUB_OFFLINE": "1",
            "OPENMAAS_LOG_LEVEL": "WARNING",
            "OPENMAAS_WORKER_SECRET": SECRET,
            "OPENMAAS_IMAGE_QUEUE_SIZE": "100000",
        }
        env = {**os.environ, **env}
        with contextlib.ExitStack() as stack:
            pids = [stack.enter_context(worker(models_toml, env)).pid for _ in range(workers)]
            server = start_server("include_builtin = false\n", cpu=None, env_extra=env)
            stack.callback(server.stop)
            deadline = time.monotonic() + 30
            while model not in httpx.get(f"{server.base_url}/v1/models").text:
                if time.monotonic() > deadline:
                    raise RuntimeError("the API process did not find the image workers")
                time.sleep(0.1)
            yield server, pids


def throughput(workers: int, tasks: int) -> float | None:
    with cluster(DEMO_MODELS, DEMO, workers) as running:
        if running is None:
            return None
        server, _ = running
        asyncio.run(burst(server, DEMO, 4 * workers))  # every worker past its first-call costs
        seconds = asyncio.run(burst(server, DEMO, tasks))
        return tasks / seconds * 60


def queue_overhead(tasks: int) -> tuple[float, float, float] | None:
    """(wall ms, API process CPU ms, worker process CPU ms) per task, one worker, instant engine."""
    with cluster(INSTANT_MODELS, "bench/instant-image", 1) as running:
        if running is None:
            return None
        server, (worker_pid,) = running
        asyncio.run(burst(server, "bench/instant-image", 20))
        api_before, worker_before = cpu_seconds(server.process.pid), cpu_seconds(worker_pid)
        seconds = asyncio.run(burst(server, "bench/instant-image", tasks))
        api = cpu_seconds(server.process.pid) - api_before
        work = cpu_seconds(worker_pid) - worker_before
        return seconds / tasks * 1000, api / tasks * 1000, work / tasks * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=16)
    parser.add_argument("--instant-tasks", type=int, default=200)
    args = parser.parse_args()
    report(args.tasks, args.instant_tasks)


def report(tasks: int, instant_tasks: int) -> None:
    print("Image tasks through the shared queue (PostgreSQL + Redis + S3, separate worker processes)")
    for workers in (1, 2):
        per_minute = throughput(workers, tasks)
        if per_minute is None:
            return
        label = f"{workers} worker process{'es' if workers > 1 else ''}"
        print(f"  {label}: {per_minute:6.1f} tasks/min", flush=True)
    overhead = queue_overhead(instant_tasks)
    if overhead is not None:
        wall, api, work = overhead
        print(
            f"  shared queue overhead per task (instant engine): {wall:.1f} ms wall, "
            f"{api:.2f} ms API CPU + {work:.2f} ms worker CPU"
        )


if __name__ == "__main__":
    main()
