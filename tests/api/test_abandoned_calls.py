"""A client that goes away before a non-streamed answer stops its work: the engine lets go of the call at
once, and the call is counted as a stream the client dropped.

Before, 8 chat calls whose clients timed out after a second kept 8 engine rows generating, and the next
8-token call waited behind them. Here the server runs in the test's loop (uvicorn on 127.0.0.1), so the
engines' own state says whether the work stopped; the clients are the real SDKs with short timeouts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from openmaas.app import create_app
from openmaas.catalog import load_catalog
from openmaas.services.container import Services
from openmaas.settings import Settings
from tests.fakes import ScriptedChatEngine, ScriptedEmbeddingEngine, ScriptedImageEngine
from tests.servers import add_user_with_token, uvicorn_server

LONG_REPLY = " ".join(f"word{i}" for i in range(300))
MODELS = f"""
include_builtin = false

[[models]]
id = "test/long"
task = "chat"
engine = "tests.fakes:ScriptedChatEngine"
[models.options]
reply = "{LONG_REPLY}"
token_delay = 0.02

[[models]]
id = "test/slow-embedder"
task = "embedding"
engine = "tests.fakes:ScriptedEmbeddingEngine"
[models.options]
delay = 30

[[models]]
id = "test/slow-painter"
task = "image"
engine = "tests.fakes:ScriptedImageEngine"
[models.options]
default_size = "64x64"
default_steps = 100
step_delay = 0.1
"""
ABANDONED = 8


class Server:
    def __init__(self, base_url: str, services: Services, token: str) -> None:
        self.base_url = base_url
        self.services = services
        self.token = token

    async def engine(self, model: str) -> Any:
        return await self.services.engines.engine(model)

    async def used(self) -> int:
        user = await self.services.store.get_user("alice")
        assert user is not None
        total, _ = await self.services.counter.used(user.id, self.services.quota_day.today())
        return total


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    models_file = tmp_path / "models.toml"
    models_file.write_text(MODELS)
    settings = Settings(data_dir=tmp_path / "data", models_file=models_file)
    app = create_app(settings, catalog=load_catalog(models_file))
    async with uvicorn_server(app) as base_url:
        services: Services = app.state.services
        await services.engines.wait_ready()
        yield Server(base_url, services, await add_user_with_token(services, "alice"))


async def settled(check: Any, within: float = 5.0) -> None:
    """Wait until `check()` holds (the server lets go of abandoned work within an engine step)."""
    async with asyncio.timeout(within):
        while not check():
            await asyncio.sleep(0.01)


async def abandon(calls: Any) -> None:
    """Start ABANDONED calls whose clients give up before the answer."""
    results = await asyncio.gather(*(calls() for _ in range(ABANDONED)), return_exceptions=True)
    assert all(
        isinstance(r, openai.APITimeoutError | anthropic.APITimeoutError | httpx.TimeoutException)
        for r in results
    ), results


async def test_abandoned_chat_calls_free_the_engine(server: Server) -> None:
    engine: ScriptedChatEngine = await server.engine("test/long")
    client = openai.AsyncOpenAI(
        base_url=f"{server.base_url}/v1", api_key=server.token, max_retries=0, timeout=2.0
    )
    messages: Any = [{"role": "user", "content": "Tell me everything."}]
    await abandon(
        lambda: client.chat.completions.create(model="test/long", messages=messages, max_tokens=300)
    )
    await settled(lambda: engine.running == 0)
    assert engine.cancelled == ABANDONED

    fresh = openai.AsyncOpenAI(
        base_url=f"{server.base_url}/v1", api_key=server.token, max_retries=0, timeout=30
    )
    answer = await fresh.chat.completions.create(model="test/long", messages=messages, max_tokens=8)
    assert answer.choices[0].finish_reason == "length" and answer.usage is not None
    assert answer.usage.completion_tokens == 8
    assert engine.running == 0 and engine.cancelled == ABANDONED
    # The abandoned calls count, as streams their clients dropped do.
    assert await server.used() == ABANDONED + 1


async def test_abandoned_messages_calls_free_the_engine(server: Server) -> None:
    engine: ScriptedChatEngine = await server.engine("test/long")
    client = anthropic.AsyncAnthropic(
        base_url=server.base_url, api_key=server.token, max_retries=0, timeout=2.0
    )
    messages: Any = [{"role": "user", "content": "Tell me everything."}]
    await abandon(lambda: client.messages.create(model="test/long", messages=messages, max_tokens=300))
    await settled(lambda: engine.running == 0)
    assert engine.cancelled == ABANDONED
    assert await server.used() == ABANDONED


async def test_abandoned_embedding_calls_stop(server: Server) -> None:
    engine: ScriptedEmbeddingEngine = await server.engine("test/slow-embedder")
    client = openai.AsyncOpenAI(
        base_url=f"{server.base_url}/v1", api_key=server.token, max_retries=0, timeout=2.0
    )
    await abandon(lambda: client.embeddings.create(model="test/slow-embedder", input="hello"))
    await settled(lambda: engine.running == 0)
    assert engine.cancelled == ABANDONED
    assert await server.used() == ABANDONED


async def test_an_abandoned_waiting_image_call_cancels_its_task(server: Server) -> None:
    engine: ScriptedImageEngine = await server.engine("test/slow-painter")
    headers = {"Authorization": f"Bearer {server.token}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=1.0) as client:
        with pytest.raises(httpx.TimeoutException):
            await client.post(
                "/v1/images/generations", json={"model": "test/slow-painter", "prompt": "a cat"}
            )
        assert len(engine.jobs) == 1
        async with asyncio.timeout(5):
            while (listed := (await client.get("/v1/tasks")).json()["data"])[0]["task_status"] == "RUNNING":
                await asyncio.sleep(0.05)
        assert [task["task_status"] for task in listed] == ["FAILED"]
        assert listed[0]["errors"]["code"] == "cancelled"
