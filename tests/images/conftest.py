"""Apps for the image-task tests: on scripted image engines (fast, for the service and API layers) and
on the real diffusers engine with the locally built demo model (shared per module: loading takes seconds)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from openmaas.app import create_app
from openmaas.catalog import load_catalog
from openmaas.services.container import Services
from openmaas.settings import Settings
from tests.servers import add_user_with_token, asgi_client

DEMO = "openmaas/tiny-sd-demo"
ASYNC = {"X-ModelScope-Async-Mode": "true"}

SCRIPTED_IMAGE_MODELS = """
include_builtin = false

[[models]]
id = "test/painter"
task = "image"
engine = "tests.fakes:ScriptedImageEngine"
capabilities = ["edit", "loras", "size:64x64-1024x1024"]
[models.options]
default_size = "64x64"
default_steps = 4
[models.options.loras]
"test/lora-a" = "unused"
"test/lora-b" = "unused"

[[models]]
id = "test/slow-painter"
task = "image"
engine = "tests.fakes:ScriptedImageEngine"
capabilities = ["size:64x64-512x512"]
[models.options]
default_size = "64x64"
default_steps = 40
step_delay = 0.05

[[models]]
id = "test/broken-painter"
task = "image"
engine = "tests.fakes:ScriptedImageEngine"
[models.options]
default_size = "64x64"
default_steps = 2
fail = true

[[models]]
id = "test/crashing-painter"
task = "image"
engine = "tests.fakes:ScriptedImageEngine"
[models.options]
default_size = "64x64"
default_steps = 2
crash = true

[[models]]
id = "test/plain-painter"
task = "image"
engine = "tests.fakes:ScriptedImageEngine"
capabilities = ["size:128x128-512x512"]
[models.options]
default_size = "256x256"
size_multiple = 16
default_steps = 2

[[models]]
id = "test/scripted"
task = "chat"
engine = "tests.fakes:ScriptedChatEngine"
"""


def demo_models(lora_folder: Path | None = None) -> str:
    """The built-in demo entry (one torch thread: the test machine is shared), plus a LoRA from a folder."""
    local = f'"test/local-lora" = "{lora_folder}"\n' if lora_folder else ""
    return f"""
include_builtin = false

[[models]]
id = "{DEMO}"
task = "image"
engine = "diffusers"
capabilities = ["edit", "loras", "size:64x64-1024x1024"]
[models.options]
build_demo = true
torch_threads = 1
default_size = "64x64"
default_steps = 4
[models.options.loras]
"openmaas/tiny-sd-demo-lora-a" = "demo"
"openmaas/tiny-sd-demo-lora-b" = "demo"
{local}"""


class ImageHarness:
    def __init__(self, client: httpx.AsyncClient, services: Services, token: str, other: str) -> None:
        self.client = client
        self.services = services
        self.token = token
        self.other_token = other

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    async def generate(
        self, body: dict[str, Any], *, asynchronous: bool = False, token: str | None = None
    ) -> httpx.Response:
        headers = {**self.auth(token), **(ASYNC if asynchronous else {})}
        return await self.client.post("/v1/images/generations", json=body, headers=headers)

    async def task(self, task_id: str, token: str | None = None) -> httpx.Response:
        return await self.client.get(f"/v1/tasks/{task_id}", headers=self.auth(token))

    async def finished(self, task_id: str, timeout: float = 120) -> dict[str, Any]:
        """Poll the task until SUCCEED or FAILED."""
        async with asyncio.timeout(timeout):
            while True:
                body: dict[str, Any] = (await self.task(task_id)).json()
                if body["task_status"] in ("SUCCEED", "FAILED"):
                    return body
                await asyncio.sleep(0.02)

    async def until(self, task_id: str, check: Callable[[dict[str, Any]], bool], timeout: float = 60) -> None:
        async with asyncio.timeout(timeout):
            while not check((await self.task(task_id)).json()):
                await asyncio.sleep(0.01)

    async def download(self, url: str) -> bytes:
        """A bare GET, as the reference client does: no Authorization header."""
        response = await self.client.get(url)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/png"
        return response.content


AppFactory = Callable[..., contextlib.AbstractAsyncContextManager[ImageHarness]]


@contextlib.asynccontextmanager
async def image_app(root: Path, models: str, **settings: Any) -> AsyncIterator[ImageHarness]:
    models_file = root / "models.toml"
    models_file.write_text(models)
    the_settings = Settings(data_dir=root / "data", models_file=models_file, **settings)
    app = create_app(the_settings, catalog=load_catalog(models_file))
    async with asgi_client(app) as (client, services):
        await services.engines.wait_ready()
        token = await add_user_with_token(services, "alice")
        other = await add_user_with_token(services, "bob")
        yield ImageHarness(client, services, token, other)


@pytest.fixture
def scripted_app(tmp_path: Path) -> AppFactory:
    """`async with scripted_app(**settings) as harness:` an app on the scripted image engines."""

    def make(**settings: Any) -> contextlib.AbstractAsyncContextManager[ImageHarness]:
        return image_app(tmp_path, SCRIPTED_IMAGE_MODELS, **settings)

    return make


@pytest.fixture
async def painter(scripted_app: AppFactory) -> AsyncIterator[ImageHarness]:
    async with scripted_app() as harness:
        yield harness
