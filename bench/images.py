"""Image tasks: throughput on the demo model at 1 and 4 workers, and the queue's own cost per task.

Throughput: a real server on the demo model (random-weight tiny Stable Diffusion, 256x256, 10 steps,
one torch thread per job) gets a burst of tasks in async mode; tasks per minute = tasks / time until
the last one finished. Queue overhead: the same path on an engine that answers at once
(`bench.instant_engine.InstantImageEngine`), so all that is measured is OpenMaaS: submit (HTTP, auth,
quota, task row), queue, claim, progress, PNG file, end of task, ledger — per task, in wall time with
one worker and in the server's CPU time.

The same figures through the shared queue of the scaled-out mode (1 and 2 image worker processes) come
from `bench.shared_images`, run at the end.

    python -m bench.images [--tasks 16] [--instant-tasks 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

import httpx

from bench.common import Server, cpu_seconds, start_server

DEMO = "openmaas/tiny-sd-demo"
DEMO_MODELS = f"""
include_builtin = false
[[models]]
id = "{DEMO}"
task = "image"
engine = "diffusers"
capabilities = ["size:64x64-1024x1024"]
[models.options]
build_demo = true
torch_threads = 1
max_concurrency = 4
default_size = "256x256"
default_steps = 10
"""
INSTANT_MODELS = """
include_builtin = false
[[models]]
id = "bench/instant-image"
task = "image"
engine = "bench.instant_engine:InstantImageEngine"
capabilities = ["size:8x8-64x64"]
[models.options]
default_size = "8x8"
default_steps = 10
"""


async def burst(server: Server, model: str, tasks: int) -> float:
    """Submit `tasks` tasks at once (async mode), wait for all; seconds from first submit to last end.

    Tasks start in order, so it polls the last one, then checks the others once each (polling them
    all would measure the polling)."""
    headers = {"Authorization": f"Bearer {server.token}", "X-ModelScope-Async-Mode": "true"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=300) as client:

        async def finished(task_id: str) -> bool:
            task: dict[str, Any] = (await client.get(f"/v1/tasks/{task_id}")).json()
            if task["task_status"] == "FAILED":
                raise RuntimeError(f"task failed: {task}")
            return bool(task["task_status"] == "SUCCEED")

        started = time.perf_counter()
        ids = []
        for index in range(tasks):
            body = {"model": model, "prompt": "a cat", "seed": index}
            response = await client.post("/v1/images/generations", json=body)
            response.raise_for_status()
            ids.append(response.json()["task_id"])
        pending = list(reversed(ids))
        while pending:
            if await finished(pending[0]):
                pending.pop(0)
            else:
                await asyncio.sleep(0.02)
        return time.perf_counter() - started


def throughput(workers: int, tasks: int) -> float:
    server = start_server(DEMO_MODELS, cpu=None, settings={"image_workers": str(workers)})
    try:
        asyncio.run(burst(server, DEMO, 2))  # warm-up: first-call costs
        seconds = asyncio.run(burst(server, DEMO, tasks))
        return tasks / seconds * 60
    finally:
        server.stop()


def queue_overhead(tasks: int) -> tuple[float, float]:
    """(wall ms per task, server CPU ms per task) with one worker and an instant engine."""
    server = start_server(
        INSTANT_MODELS, cpu=None, settings={"image_workers": "1", "image_queue_size": "100000"}
    )
    try:
        asyncio.run(burst(server, "bench/instant-image", 20))
        before = cpu_seconds(server.process.pid)
        seconds = asyncio.run(burst(server, "bench/instant-image", tasks))
        cpu = cpu_seconds(server.process.pid) - before
        return seconds / tasks * 1000, cpu / tasks * 1000
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=16)
    parser.add_argument("--instant-tasks", type=int, default=300)
    args = parser.parse_args()
    print(f"Image tasks (demo model 256x256, 10 steps; load average {os.getloadavg()[0]:.1f})", flush=True)
    for workers in (1, 4):
        per_minute = throughput(workers, args.tasks)
        print(f"  {workers} worker{'s' if workers > 1 else ''}: {per_minute:6.1f} tasks/min", flush=True)
    wall, cpu = queue_overhead(args.instant_tasks)
    print(f"  queue overhead per task (instant engine): {wall:.2f} ms wall, {cpu:.2f} ms server CPU")
    from bench.shared_images import report

    report(args.tasks, args.instant_tasks)


if __name__ == "__main__":
    main()
