"""Image tasks across machines: API processes and image workers in separate processes, each with a data
dir of its own (as on different machines), sharing only PostgreSQL (tasks and the shared queue), Redis
(quota counters, worker directory) and S3-compatible object storage (outputs; a local moto server that
checks presigned URLs as S3 does). The workers run the demo model; the API process never loads it.

Covered: ModelScope's reference client and the OpenAI SDK against that topology; progress and
cancellation across processes; the bounded queue; a worker SIGKILLed mid-task (its task finishes on the
other worker, once) and one killed again (the task ends FAILED after the attempts allowed, its call
given back); a task stored without a job (an API process dying at the wrong moment) still runs.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from openai import OpenAI
from PIL import Image
from psycopg.types.json import Jsonb

from tests.backends import REDIS_URL, run_database, run_redis_prefix, unique_name
from tests.cluster import WORKER_SECRET, api_process, cluster_env, started_together, worker_process
from tests.contract.test_images_client import (
    DEMO,
    finished,
    reference_client,
    run_python,
    running,
    submit,
    wait_for,
    with_the_note_as_comments,
)
from tests.object_storage import create_bucket, s3_env, s3_server
from tests.servers import REPO, ServerProcess

WORKER_MODELS = """
include_builtin = false
""" + "".join(
    f"""
[[models]]
id = "{model_id}"
task = "image"
engine = "diffusers"
capabilities = ["edit", "size:64x64-1024x1024"]
[models.options]
build_demo = true
torch_threads = 1
default_size = "64x64"
default_steps = 4
"""
    for model_id in ("Qwen/Qwen-Image", DEMO)
)
LONG = {"prompt": "a long one", "size": "256x256", "steps": 100}
QUICK = {"prompt": "a quick one", "steps": 2}


@dataclass
class Topology:
    root: Path
    env: dict[str, str]
    database_url: str
    s3_endpoint: str
    worker_models: Path
    api_models: Path

    @contextlib.contextmanager
    def worker(self, name: str, **settings: str) -> Iterator[ServerProcess]:
        env = {**self.env, **{f"OPENMAAS_{k.upper()}": v for k, v in settings.items()}}
        with worker_process(self.root / name, self.worker_models, env) as process:
            yield process

    @contextlib.contextmanager
    def api(self, **settings: str) -> Iterator[ServerProcess]:
        env = {**self.env, **{f"OPENMAAS_{k.upper()}": v for k, v in settings.items()}}
        with api_process(self.root / "api", self.api_models, env) as server:
            deadline = time.monotonic() + 30
            while DEMO not in httpx.get(f"{server.base_url}/v1/models").text:  # found in the directory
                assert time.monotonic() < deadline, "the API process did not find the image workers"
                time.sleep(0.1)
            yield server

    def token(self, name: str) -> str:
        self.openmaas("users", "add", name)
        return self.openmaas("tokens", "create", name).strip()

    def openmaas(self, *args: str) -> str:
        command = [sys.executable, "-m", "openmaas", *args, "--data-dir", str(self.root / "admin")]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=120, env=self.env, cwd=REPO, check=False
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    yield from run_database(unique_name("images"))


@pytest.fixture(scope="module")
def redis_prefix() -> Iterator[str]:
    yield from run_redis_prefix(unique_name("images"))


@pytest.fixture(scope="module")
def topology(
    database: str, redis_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Topology]:
    root = tmp_path_factory.mktemp("shared-images")
    worker_models, api_models = root / "worker-models.toml", root / "api-models.toml"
    worker_models.write_text(WORKER_MODELS)
    api_models.write_text("include_builtin = false\n")  # the API tier loads no model itself
    with s3_server(root / "s3") as endpoint:
        create_bucket(endpoint, "images")
        env = {
            **cluster_env(REDIS_URL, redis_prefix, database),
            **s3_env(endpoint, "images"),
            "OPENMAAS_IMAGE_LEASE_SECONDS": "3",
        }
        yield Topology(root, env, database, endpoint, worker_models, api_models)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def used_calls(server: ServerProcess, token: str) -> int:
    return int(httpx.get(f"{server.base_url}/v1/usage", headers=auth(token)).json()["used"])


def running_on(workers: list[ServerProcess], task_id: str) -> ServerProcess:
    """The worker whose health lists the task among its running image tasks."""
    headers = {"Authorization": f"Bearer {WORKER_SECRET}"}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for worker in workers:
            if (
                task_id
                in httpx.get(f"{worker.base_url}/internal/health", headers=headers).json()["image_tasks"]
            ):
                return worker
        time.sleep(0.05)
    raise TimeoutError(f"no worker runs {task_id}")


def test_the_reference_client_and_the_openai_sdk_across_machines(topology: Topology, tmp_path: Path) -> None:
    with topology.worker("worker-a") as worker, topology.api() as server:
        token = topology.token("modelscope-user")
        code = with_the_note_as_comments(reference_client(server, token))
        result = run_python(code.replace("time.sleep(5)", "time.sleep(0.2)"), tmp_path)
        assert result.returncode == 0, result.stderr
        assert "Failed" not in result.stdout
        with Image.open(tmp_path / "result_image.jpg") as image:
            assert (image.format, image.size) == ("JPEG", (64, 64))

        client = OpenAI(base_url=f"{server.base_url}/v1", api_key=token, max_retries=0)
        answer = client.images.generate(model=DEMO, prompt="a lighthouse", n=2, extra_body={"seed": 7})
        assert answer.data is not None and len(answer.data) == 2
        url = answer.data[0].url
        assert url is not None and url.startswith(f"{topology.s3_endpoint}/images/openmaas/outputs/")
        png = httpx.get(url).content  # straight from object storage, no token
        assert Image.open(io.BytesIO(png)).size == (64, 64)
        assert used_calls(server, token) == 2
        # Nothing of the model or its images on the API machine, nor images on the worker's disk.
        assert not (server.data_dir / "models").exists()
        assert not (server.data_dir / "outputs").exists()
        assert not (worker.data_dir / "outputs").exists()


def test_progress_the_bound_and_cancelling_across_processes(topology: Topology) -> None:
    with topology.worker("worker-b"), topology.api(image_queue_size="2") as server:
        token = topology.token("canceller")
        long_task = submit(server, token, {**LONG, "seed": 1}, asynchronous=True)["task_id"]
        wait_for(server, token, long_task, running)  # progress, written by the worker, read by the API
        queued = [submit(server, token, {**QUICK, "seed": i}, asynchronous=True)["task_id"] for i in (2, 3)]
        full = httpx.post(
            f"{server.base_url}/v1/images/generations",
            json={"model": DEMO, **QUICK},
            headers={**auth(token), "X-ModelScope-Async-Mode": "true"},
        )
        assert full.status_code == 503
        assert int(full.headers["retry-after"]) >= 1
        cancelled = httpx.delete(f"{server.base_url}/v1/tasks/{long_task}", headers=auth(token)).json()
        assert (cancelled["task_status"], cancelled["errors"]["code"]) == ("FAILED", "cancelled")
        for task_id in queued:  # the worker stopped the cancelled job and took the next ones
            assert wait_for(server, token, task_id, finished)["task_status"] == "SUCCEED"
        assert used_calls(server, token) == 3  # the running one cancelled counts; the refused one not


def test_a_worker_killed_mid_task(topology: Topology) -> None:
    with started_together(topology.worker("worker-c"), topology.worker("worker-d"), topology.api()) as (
        first,
        second,
        server,
    ):
        token = topology.token("survivor")
        interrupted = submit(server, token, {**LONG, "seed": 4}, asynchronous=True)["task_id"]
        wait_for(server, token, interrupted, running)
        owner = running_on([first, second], interrupted)
        other = second if owner is first else first
        queued = submit(server, token, {**QUICK, "seed": 5}, asynchronous=True)["task_id"]
        owner.kill()

        done = wait_for(server, token, interrupted, finished)
        assert done["task_status"] == "SUCCEED"  # taken over by the other worker, once its lease lapsed
        assert wait_for(server, token, queued, finished)["task_status"] == "SUCCEED"
        [(attempts, outputs)] = topology.sql("SELECT attempts, outputs FROM tasks WHERE id = %s", interrupted)
        assert (attempts, outputs) == (2, [f"outputs/{interrupted}/2-0.png"])
        assert Image.open(io.BytesIO(httpx.get(done["output_images"][0]).content)).size == (256, 256)
        assert used_calls(server, token) == 2  # each counted once

        # Killed again on its last allowed attempt: it ends FAILED and gives its call back.
        given_up = submit(server, token, {**LONG, "seed": 6}, asynchronous=True)["task_id"]
        wait_for(server, token, given_up, running)
        assert running_on([other], given_up) is other
        other.kill()
        orphan = store_without_a_job(topology, "survivor")
        with topology.worker("worker-e", image_max_attempts="1"):
            failed = wait_for(server, token, given_up, finished)
            assert (failed["task_status"], failed["errors"]["code"]) == ("FAILED", "interrupted")
            assert wait_for(server, token, orphan, finished)["task_status"] == "SUCCEED"
        assert used_calls(server, token) == 2
        assert topology.sql("SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')") == [
            (0,)
        ]


def store_without_a_job(topology: Topology, user: str) -> str:
    """A PENDING task with no job for it, as an API process that died between storing and queueing
    leaves behind; its call was not counted."""
    task_id = f"orphan-{unique_name('t')[-8:]}"
    [(user_id,)] = topology.sql("SELECT id FROM users WHERE name = %s", user)
    params: dict[str, Any] = {
        "model": DEMO,
        "prompt": "orphan",
        "negative_prompt": None,
        "width": 64,
        "height": 64,
        "seed": 8,
        "steps": 2,
        "guidance": 7.5,
        "n": 1,
        "loras": [],
    }
    then = datetime.now(UTC) - timedelta(seconds=10)
    topology.sql(
        "INSERT INTO tasks (id, kind, user_id, model, status, params, request_id, quota_day, attempts,"
        " progress, outputs, created_at, updated_at) VALUES (%s, 'image_generation', %s, %s, 'PENDING',"
        " %s, 'req-orphan', %s, 0, 0, '[]', %s, %s)",
        task_id,
        user_id,
        DEMO,
        Jsonb(params),
        then.date(),
        then,
        then,
    )
    return task_id


def test_a_worker_with_image_models_needs_the_shared_queue_and_object_storage(tmp_path: Path) -> None:
    models = tmp_path / "models.toml"
    models.write_text(WORKER_MODELS)
    command = [
        sys.executable,
        "-m",
        "openmaas",
        "worker",
        "--models",
        str(models),
        "--data-dir",
        str(tmp_path),
    ]
    env = {**cluster_env(REDIS_URL, "unused"), "OPENMAAS_WORKER_SECRET": WORKER_SECRET}
    refused = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=REPO, timeout=60, check=False
    )
    assert refused.returncode == 1
    assert "Qwen/Qwen-Image, openmaas/tiny-sd-demo take tasks from the shared queue" in refused.stderr
    assert "include_builtin = false" in refused.stderr
    env["OPENMAAS_IMAGE_QUEUE"] = "shared"
    refused = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=REPO, timeout=60, check=False
    )
    assert "OPENMAAS_S3_BUCKET" in refused.stderr
