"""Engine workers as real processes: registration with a heartbeat, discovery by the API tier,
balancing by requests in flight, a worker killed mid-run, the shared secret, graceful leave."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from openmaas.app import create_app
from openmaas.catalog import Catalog
from openmaas.services.container import Services
from openmaas.settings import Settings
from tests.cluster import WORKER_SECRET, cluster_env, started_together, worker_process
from tests.servers import ServerProcess, add_user_with_token, asgi_client

MODEL = "test/remote"
REPLY = "one two three four five six seven eight nine ten eleven twelve"


def worker_models(tmp_path: Path, name: str, delay: float) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f"""include_builtin = false
[[models]]
id = "{MODEL}"
task = "chat"
engine = "tests.fakes:ScriptedChatEngine"
daily_cap = 1000
[models.options]
reply = "{REPLY}"
token_delay = {delay}
record_file = "{tmp_path / (name + ".jsonl")}"
"""
    )
    return path


def received(tmp_path: Path, name: str) -> int:
    path = tmp_path / f"{name}.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def two_workers(
    tmp_path: Path, redis_url: str, prefix: str, *, token_delay: float
) -> contextlib.AbstractContextManager[list[ServerProcess]]:
    """Workers "a" and "b", both serving MODEL at `token_delay` seconds a token, started side by side."""
    env = cluster_env(redis_url, prefix)
    return started_together(
        *(worker_process(tmp_path / n, worker_models(tmp_path, n, token_delay), env) for n in ("a", "b"))
    )


class ApiTier:
    def __init__(self, client: httpx.AsyncClient, services: Services, token: str) -> None:
        self.client, self.services, self.token = client, services, token

    async def chat(self, **body: Any) -> httpx.Response:
        payload = {"model": MODEL, "messages": [{"role": "user", "content": "count"}], **body}
        return await self.client.post(
            "/v1/chat/completions", json=payload, headers={"Authorization": f"Bearer {self.token}"}
        )

    def replicas(self) -> list[Any]:
        slot = self.services.engines._slots.get(MODEL)
        return list(slot.engine.replicas.replicas) if slot and slot.engine else []  # type: ignore[attr-defined]

    async def wait_replicas(self, count: int, timeout: float = 15) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.replicas()) != count:
            assert asyncio.get_running_loop().time() < deadline, (
                f"{len(self.replicas())} replicas, not {count}"
            )
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def api_tier(tmp_path: Path, redis_url: str, prefix: str) -> AsyncIterator[ApiTier]:
    settings = Settings(
        data_dir=tmp_path / "api",
        redis_url=redis_url,
        redis_prefix=prefix,
        worker_secret=WORKER_SECRET,  # type: ignore[arg-type]
        worker_heartbeat_seconds=0.5,
    )
    app = create_app(settings, catalog=Catalog([]))
    async with asgi_client(app) as (client, services):
        yield ApiTier(client, services, await add_user_with_token(services, "alice"))


def content(response: httpx.Response) -> tuple[str, bool, int]:
    """(the streamed text, whether the stream ended in an error chunk, how many role chunks)."""
    text, error, roles = [], False, 0
    for line in response.text.split("\n"):
        if not line.startswith("data: {"):
            continue
        chunk = orjson.loads(line[6:])
        if "error" in chunk:
            error = True
            continue
        for choice in chunk["choices"]:
            roles += "role" in choice["delta"]
            text.append(choice["delta"].get("content") or "")
    return "".join(text), error, roles


async def test_workers_register_and_share_the_load(tmp_path: Path, redis_url: str, redis_prefix: str) -> None:
    with two_workers(tmp_path, redis_url, redis_prefix, token_delay=0.02):
        async with api_tier(tmp_path, redis_url, redis_prefix) as api:
            await api.wait_replicas(2)
            listed = (await api.client.get("/v1/models")).json()["data"]
            assert [m["id"] for m in listed] == [MODEL]
            results = await asyncio.gather(*(api.chat(stream=True) for _ in range(8)))
            assert all(r.status_code == 200 and content(r)[0] == REPLY for r in results)
            assert (received(tmp_path, "a"), received(tmp_path, "b")) == (4, 4)
            whole = await api.chat(max_tokens=3)
            assert whole.json()["choices"][0]["message"]["content"] == "one two three"
            assert whole.headers["modelscope-ratelimit-model-requests-limit"] == "1000"  # the spec came along


async def test_a_worker_killed_mid_run(tmp_path: Path, redis_url: str, redis_prefix: str) -> None:
    with two_workers(tmp_path, redis_url, redis_prefix, token_delay=0.05) as (doomed, _):
        async with api_tier(tmp_path, redis_url, redis_prefix) as api:
            await api.wait_replicas(2)
            running = [asyncio.create_task(api.chat(stream=True)) for _ in range(6)]
            await asyncio.sleep(0.3)  # every stream has begun
            doomed.kill()
            first_wave = await asyncio.gather(*running)
            for response in first_wave:
                text, error, roles = content(response)
                assert response.status_code == 200 and roles == 1  # never a second beginning
                assert text == REPLY or (error and REPLY.startswith(text))
            assert sum(content(r)[1] for r in first_wave) == 3  # the killed worker's three streams broke off
            # Everything after the kill is answered: a request that picks the dead worker fails before its
            # first token (connection refused) and is retried on the live one; the breaker opens at once.
            second_wave = await asyncio.gather(*(api.chat(stream=True) for _ in range(6)))
            assert all(content(r) == (REPLY, False, 1) for r in second_wave)
            await api.wait_replicas(1)  # the registration lapsed


async def test_a_worker_stopped_under_load_finishes_its_streams(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    """SIGTERM (a rolling restart): the worker's running streams end whole, and the calls that come
    meanwhile are answered by the other worker."""
    with two_workers(tmp_path, redis_url, redis_prefix, token_delay=0.15) as (stopping, _):
        async with api_tier(tmp_path, redis_url, redis_prefix) as api:
            await api.wait_replicas(2)
            running = [asyncio.create_task(api.chat(stream=True)) for _ in range(4)]
            await asyncio.sleep(0.5)  # every stream has begun, two on each worker
            stopping.process.send_signal(signal.SIGTERM)
            meanwhile = []
            for _ in range(8):
                meanwhile.append(asyncio.create_task(api.chat(stream=True)))
                await asyncio.sleep(0.1)
            answers = await asyncio.gather(*running, *meanwhile)
            assert [content(r) for r in answers] == [(REPLY, False, 1)] * len(answers)
            # It leaves once its streams are done. (Its heartbeat once swallowed the cancellation at
            # shutdown and went on renewing the registration of a worker that no longer listened.)
            stopping.process.wait(15)
            await api.wait_replicas(1, timeout=3)


async def test_worker_wants_the_secret(tmp_path: Path, redis_url: str, redis_prefix: str) -> None:
    env = cluster_env(redis_url, redis_prefix)
    with worker_process(tmp_path / "a", worker_models(tmp_path, "a", 0.0), env) as worker:
        async with httpx.AsyncClient(base_url=worker.base_url) as client:
            assert (await client.get("/internal/health")).status_code == 401
            wrong = {"Authorization": "Bearer not-the-secret-at-all"}
            refused = await client.post("/internal/v1/chat", content=b"{}", headers=wrong)
            assert refused.status_code == 401 and refused.json()["error"]["type"] == "authentication"
            right = {"Authorization": f"Bearer {WORKER_SECRET}"}
            bad = await client.post("/internal/v1/chat", content=b"{}", headers=right)
            assert bad.status_code == 400


async def test_a_worker_that_stops_leaves_the_directory(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    env = cluster_env(redis_url, redis_prefix)
    async with api_tier(tmp_path, redis_url, redis_prefix) as api:
        with worker_process(tmp_path / "a", worker_models(tmp_path, "a", 0.0), env) as worker:
            await api.wait_replicas(1)
            worker.process.send_signal(signal.SIGTERM)
            worker.process.wait(30)
            await api.wait_replicas(0, timeout=3)  # unregistered at shutdown: no need to wait for the TTL
        response = await api.chat()
        assert response.status_code == 503 and "Retry-After" in response.headers
        assert json.loads(response.text)["error"]["type"] == "server_error"


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("ERROR")
