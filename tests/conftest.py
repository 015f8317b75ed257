"""Fixtures shared by the whole suite: settings on a temporary data dir, and apps on scripted engines."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from openmaas.app import create_app
from openmaas.catalog import load_catalog
from openmaas.services.container import Services
from openmaas.settings import Settings
from tests.backends import REDIS_URL, run_database, run_redis_prefix, unique_name
from tests.servers import add_user_with_token, asgi_client

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SCRIPTED_MODELS = """
include_builtin = false

[[models]]
id = "test/scripted"
task = "chat"
engine = "tests.fakes:ScriptedChatEngine"
[models.options]
reply = "Hello! You said: {last_user}"

[[models]]
id = "test/slow"
task = "chat"
engine = "tests.fakes:ScriptedChatEngine"
[models.options]
reply = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"
token_delay = 0.05

[[models]]
id = "test/broken"
task = "chat"
engine = "tests.fakes:ScriptedChatEngine"
[models.options]
fail = true

[[models]]
id = "test/capped"
task = "chat"
engine = "tests.fakes:ScriptedChatEngine"
daily_cap = 3
"""


@pytest.fixture
def models_file(tmp_path: Path) -> Path:
    path = tmp_path / "models.toml"
    path.write_text(SCRIPTED_MODELS)
    return path


@pytest.fixture
def settings(tmp_path: Path, models_file: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", models_file=models_file)


class Harness:
    """An in-process app on scripted engines with a client and a user token."""

    def __init__(self, client: httpx.AsyncClient, services: Services, token: str) -> None:
        self.client = client
        self.services = services
        self.token = token

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def token_for(self, name: str, **kwargs: object) -> str:
        return await add_user_with_token(self.services, name, **kwargs)  # type: ignore[arg-type]

    async def chat(self, body: Mapping[str, Any], token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return await self.client.post("/v1/chat/completions", json=body, headers=headers)


@pytest.fixture
async def harness(settings: Settings) -> AsyncIterator[Harness]:
    app = create_app(settings, catalog=load_catalog(settings.models_file))
    async with asgi_client(app) as (client, services):
        await services.engines.wait_ready()
        token = await add_user_with_token(services, "alice")
        yield Harness(client, services, token)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test (skipped when PostgreSQL is absent, except in CI)."""
    yield from run_database(unique_name("test"))


@pytest.fixture(scope="session")
def redis_url() -> str:
    """Redis for the tests: check it is there (skip, or fail under CI=true)."""
    for _ in run_redis_prefix(unique_name("probe")):
        pass
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A Redis key prefix of one test; its keys are deleted afterwards."""
    yield from run_redis_prefix(unique_name("test"))


@pytest.fixture(scope="session")
def tiny_vision_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random-weight Qwen2-VL with its processor (see tests/tiny_models.py), built once."""
    from tests.tiny_vision_models import build_tiny_vision_model

    return build_tiny_vision_model(tmp_path_factory.mktemp("tiny-vision-model"))
