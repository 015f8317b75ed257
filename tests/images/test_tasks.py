"""Image tasks through the API on scripted engines: async and sync modes, the task JSON, progress,
ownership, cancelling, failures, the bounded queue, quota accounting, recovery and retention."""

from __future__ import annotations

import asyncio
import base64
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image

from openmaas.domain.tasks import TaskRecord, TaskStatus
from openmaas.settings import Settings
from openmaas.store.backends import database_url
from openmaas.store.sql import SqlStore
from tests.fakes import ScriptedImageEngine
from tests.images.conftest import AppFactory, ImageHarness
from tests.servers import add_user_with_token

PAINT: dict[str, Any] = {"model": "test/painter", "prompt": "a golden cat", "seed": 42}
SLOW: dict[str, Any] = {"model": "test/slow-painter", "prompt": "a slow cat"}
TASK_KEYS = {
    "task_id",
    "task_status",
    "task_type",
    "model",
    "output_images",
    "progress",
    "request_id",
    "created_at",
    "updated_at",
}


async def used_calls(harness: ImageHarness) -> int:
    usage = (await harness.client.get("/v1/usage", headers=harness.auth())).json()
    return int(usage["used"])


async def test_async_mode_answers_a_task_at_once(painter: ImageHarness) -> None:
    response = await painter.generate(PAINT, asynchronous=True)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"task_id", "request_id"}
    assert body["request_id"] == response.headers["x-request-id"]
    assert response.headers["modelscope-ratelimit-requests-remaining"] == "1999"
    task = await painter.finished(body["task_id"])
    assert set(task) == TASK_KEYS
    assert task["task_status"] == "SUCCEED"
    assert task["task_type"] == "image_generation"
    assert task["progress"] == 1.0
    assert task["created_at"].endswith("Z")
    assert task["updated_at"] >= task["created_at"]
    assert len(task["output_images"]) == 1
    png = await painter.download(task["output_images"][0])
    assert Image.open(io.BytesIO(png)).size == (64, 64)
    assert await used_calls(painter) == 1


async def test_sync_mode_waits_and_answers_both_shapes(painter: ImageHarness) -> None:
    response = await painter.generate({**PAINT, "n": 2, "size": "128x64"})
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body["created"], int)
    assert [d["url"] for d in body["data"]] == [i["url"] for i in body["images"]]
    first, second = [await painter.download(d["url"]) for d in body["data"]]
    assert first != second  # image i uses seed + i
    assert Image.open(io.BytesIO(first)).size == (128, 64)
    assert "modelscope-ratelimit-requests-remaining" in response.headers
    as_b64 = (
        await painter.generate({**PAINT, "n": 2, "size": "128x64", "response_format": "b64_json"})
    ).json()
    assert [base64.b64decode(d["b64_json"]) for d in as_b64["data"]] == [first, second]
    assert len(as_b64["images"]) == 2


async def test_the_service_fills_in_the_model_defaults(painter: ImageHarness) -> None:
    await painter.generate({"model": "test/painter", "prompt": "defaults"})
    await painter.generate({"model": "test/plain-painter", "prompt": "defaults"})
    painter_engine = await painter.services.engines.engine("test/painter")
    plain_engine = await painter.services.engines.engine("test/plain-painter")
    assert isinstance(painter_engine, ScriptedImageEngine)
    assert isinstance(plain_engine, ScriptedImageEngine)
    job = painter_engine.jobs[-1]
    assert (job.width, job.height, job.steps, job.guidance, job.n) == (64, 64, 4, 7.5, 1)
    assert 0 <= job.seed < 2**31
    assert (plain_engine.jobs[-1].width, plain_engine.jobs[-1].steps) == (256, 2)


async def test_progress_is_reported_while_running(scripted_app: AppFactory) -> None:
    async with scripted_app() as harness:
        task_id = (await harness.generate(SLOW, asynchronous=True)).json()["task_id"]
        seen: list[float] = []

        def partway(task: dict[str, Any]) -> bool:
            seen.append(task["progress"])
            return task["task_status"] == "RUNNING" and 0 < task["progress"] < 1

        await harness.until(task_id, partway)
        final = await harness.finished(task_id)
        assert final["progress"] == 1.0
        assert seen == sorted(seen)


async def test_only_the_owner_sees_a_task(painter: ImageHarness) -> None:
    task_id = (await painter.generate(PAINT, asynchronous=True)).json()["task_id"]
    for response in (
        await painter.task(task_id, token=painter.other_token),
        await painter.client.delete(f"/v1/tasks/{task_id}", headers=painter.auth(painter.other_token)),
        await painter.task("no-such-task"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "task_not_found"
    assert (await painter.task(task_id)).status_code == 200


async def test_cancelling(scripted_app: AppFactory) -> None:
    async with scripted_app(image_workers=1) as harness:
        running = (await harness.generate(SLOW, asynchronous=True)).json()["task_id"]
        waiting = (await harness.generate(SLOW, asynchronous=True)).json()["task_id"]
        await harness.until(running, lambda t: t["task_status"] == "RUNNING" and t["progress"] > 0)
        assert await used_calls(harness) == 2

        cancelled = await harness.client.delete(f"/v1/tasks/{waiting}", headers=harness.auth())
        assert cancelled.status_code == 200
        assert cancelled.json()["task_status"] == "FAILED"
        assert cancelled.json()["errors"]["code"] == "cancelled"
        assert await used_calls(harness) == 1  # it never ran: given back

        stopped = await harness.client.delete(f"/v1/tasks/{running}", headers=harness.auth())
        assert stopped.json()["errors"]["code"] == "cancelled"
        await harness.until(running, lambda t: t["task_status"] == "FAILED")
        await _idle(harness)  # the running job stopped at its next step
        assert await used_calls(harness) == 1  # it ran partly: counted, like a stream the client left
        again = await harness.client.delete(f"/v1/tasks/{running}", headers=harness.auth())
        assert again.status_code == 400
        assert "already finished" in again.json()["error"]["message"]
        # The worker is free again: a new task runs.
        follow = (await harness.generate(PAINT, asynchronous=True)).json()["task_id"]
        assert (await harness.finished(follow))["task_status"] == "SUCCEED"


async def _idle(harness: ImageHarness) -> None:
    runner = harness.services.images.runner
    assert runner is not None
    async with asyncio.timeout(10):
        while runner.running:
            await asyncio.sleep(0.01)


async def test_failures_end_failed_and_give_the_call_back(painter: ImageHarness) -> None:
    broken = (
        await painter.generate({"model": "test/broken-painter", "prompt": "x"}, asynchronous=True)
    ).json()
    task = await painter.finished(broken["task_id"])
    assert task["task_status"] == "FAILED"
    assert task["errors"] == {"code": "scripted_failure", "message": "scripted image failure"}
    assert task["output_images"] == []
    crashed = (
        await painter.generate({"model": "test/crashing-painter", "prompt": "x"}, asynchronous=True)
    ).json()
    task = await painter.finished(crashed["task_id"])
    assert task["errors"]["code"] == "internal"
    assert "scripted crash" not in task["errors"]["message"]
    sync = await painter.generate({"model": "test/broken-painter", "prompt": "x"})
    assert sync.status_code == 500
    assert sync.json()["error"] == {
        "message": "scripted image failure",
        "type": "server_error",
        "param": None,
        "code": "scripted_failure",
    }
    assert await used_calls(painter) == 0


async def test_a_full_queue_is_a_503_with_retry_after(scripted_app: AppFactory) -> None:
    async with scripted_app(image_workers=1, image_queue_size=1) as harness:
        first = (await harness.generate(SLOW, asynchronous=True)).json()["task_id"]
        await harness.until(first, lambda t: t["task_status"] == "RUNNING")
        second = (await harness.generate(SLOW, asynchronous=True)).json()["task_id"]
        refused = await harness.generate(SLOW, asynchronous=True)
        assert refused.status_code == 503
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"]["type"] == "server_error"
        assert "Too many image tasks" in refused.json()["error"]["message"]
        assert await used_calls(harness) == 2
        for task_id in (first, second):
            await harness.client.delete(f"/v1/tasks/{task_id}", headers=harness.auth())


async def test_an_edit_gets_the_fetched_image(painter: ImageHarness) -> None:
    source = io.BytesIO()
    Image.new("RGB", (300, 200), (10, 200, 30)).save(source, format="PNG")
    data_uri = "data:image/png;base64," + base64.b64encode(source.getvalue()).decode()
    response = await painter.generate({**PAINT, "image_url": data_uri})
    assert response.status_code == 200, response.text
    engine = await painter.services.engines.engine("test/painter")
    assert isinstance(engine, ScriptedImageEngine)
    job = engine.jobs[-1]
    assert job.init_image == source.getvalue()
    assert (job.width, job.height) == (296, 200)  # the input's size, on the model's multiple of 8
    refused = await painter.generate({**PAINT, "image_url": "data:image/png;base64,bm90IGFuIGltYWdl"})
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "image_url"


async def test_graceful_stop_puts_running_tasks_back(scripted_app: AppFactory) -> None:
    async with scripted_app(image_workers=1) as harness:
        task_id = (await harness.generate(SLOW, asynchronous=True)).json()["task_id"]
        await harness.until(task_id, lambda t: t["task_status"] == "RUNNING" and t["progress"] > 0)
    async with scripted_app() as harness:
        task = await harness.finished(task_id)
        assert task["task_status"] == "SUCCEED"
        stored = await harness.services.images.tasks.get_task(task_id)
        assert stored is not None and stored.attempts == 1  # a clean stop does not count as an attempt


async def test_recovery_after_a_crash(tmp_path: Path, scripted_app: AppFactory) -> None:
    async with scripted_app() as harness:  # creates the users and the schema
        user = await harness.services.store.get_user("alice")
        assert user is not None
    store = SqlStore(database_url(Settings(data_dir=tmp_path / "data")))
    await store.open()
    params = {**_params(), "steps": 2}
    for task_id, status, attempts in (
        ("was-pending", TaskStatus.PENDING, 0),
        ("was-running", TaskStatus.RUNNING, 1),
        ("twice-interrupted", TaskStatus.RUNNING, 2),
        ("done", TaskStatus.SUCCEED, 1),
    ):
        await store.add_task(_record(task_id, user.id, status, attempts, params))
    await store.close()

    async with scripted_app(image_max_attempts=2) as harness:
        assert (await harness.finished("was-pending"))["task_status"] == "SUCCEED"
        assert (await harness.finished("was-running"))["task_status"] == "SUCCEED"
        failed = await harness.finished("twice-interrupted")
        assert failed["task_status"] == "FAILED"
        assert failed["errors"]["code"] == "interrupted"
        assert "2 times" in failed["errors"]["message"]
        assert (await harness.task("done")).json()["task_status"] == "SUCCEED"


async def test_retention_deletes_old_tasks_and_files(scripted_app: AppFactory) -> None:
    """With a retention of one second the periodic clean-up (every quarter of it) removes the task."""
    async with scripted_app(image_retention_hours=1 / 3600) as harness:
        task = (await harness.generate(PAINT)).json()
        url = task["data"][0]["url"]
        await harness.download(url)
        async with asyncio.timeout(30):
            while (await harness.task(task["task_id"])).status_code != 404:
                await asyncio.sleep(0.05)
            # The record goes first, then its files (see job_retention.py): a moment apart.
            while (response := await harness.client.get(url)).status_code == 200:
                await asyncio.sleep(0.05)
        assert response.status_code == 404
        assert not list((harness.services.settings.data_dir / "outputs").iterdir())


def _params() -> dict[str, Any]:
    return {
        "model": "test/painter",
        "prompt": "recovered",
        "negative_prompt": None,
        "width": 64,
        "height": 64,
        "seed": 1,
        "steps": 2,
        "guidance": 7.5,
        "n": 1,
        "loras": [],
    }


def _record(
    task_id: str, user_id: int, status: TaskStatus, attempts: int, params: dict[str, Any]
) -> TaskRecord:
    now = datetime.now(UTC)
    return TaskRecord(
        id=task_id,
        kind="image_generation",
        user_id=user_id,
        model="test/painter",
        status=status,
        params=params,
        request_id="req-test",
        quota_day=now.date(),
        attempts=attempts,
        progress=0.5 if status is TaskStatus.RUNNING else 0.0,
        outputs=(),
        error=None,
        input_key=None,
        created_at=now,
        updated_at=now,
    )


async def test_the_daily_limit_applies_to_submissions(painter: ImageHarness) -> None:
    token = await add_user_with_token(painter.services, "frugal", daily_limit=1)
    assert (await painter.generate(PAINT, asynchronous=True, token=token)).status_code == 200
    refused = await painter.generate(PAINT, asynchronous=True, token=token)
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert int(refused.headers["retry-after"]) > 0
    assert refused.headers["modelscope-ratelimit-requests-remaining"] == "0"
