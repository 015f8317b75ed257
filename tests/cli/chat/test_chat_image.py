"""`/image` against a small fake of the asynchronous image-task protocol, served on 127.0.0.1 by the test.

OpenMaaS's images API is built in another issue; this fake follows SPEC 2.5 (the async header, task polling
with `progress`, output URLs fetched without a token) and records what the client did.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.cli.chat.conftest import quit_chat, say, spawn_chat
from tests.servers import thread_server

TOKEN = "ms-11111111-2222-4333-8444-555555555555"
POLLS_TO_FINISH = 3


def tiny_png() -> bytes:
    """A valid 1x1 red PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


class FakeImages:
    def __init__(self) -> None:
        self.submitted: list[dict[str, Any]] = []
        self.polls: dict[str, int] = {}
        self.download_headers: list[dict[str, str]] = []
        self.app = Starlette(
            routes=[
                Route("/v1/models", self.models),
                Route("/v1/images/generations", self.generate, methods=["POST"]),
                Route("/v1/tasks/{task_id}", self.task),
                Route("/files/{name}", self.file),
            ]
        )

    def authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {TOKEN}"

    async def models(self, request: Request) -> JSONResponse:
        data = [
            {"id": "fake/chat", "object": "model", "task": "chat"},
            {"id": "fake/painter", "object": "model", "task": "image"},
        ]
        return JSONResponse({"object": "list", "data": data})

    async def generate(self, request: Request) -> JSONResponse:
        if not self.authorized(request) or request.headers.get("x-modelscope-async-mode") != "true":
            return JSONResponse({"error": {"message": "expected the token and async mode"}}, 400)
        body = await request.json()
        self.submitted.append(body)
        task_id = f"task-{len(self.submitted):04d}"
        self.polls[task_id] = 0
        return JSONResponse({"task_id": task_id, "request_id": "req-1"})

    async def task(self, request: Request) -> JSONResponse:
        task_id = request.path_params["task_id"]
        if not self.authorized(request) or task_id not in self.polls:
            return JSONResponse({"error": {"message": f"task {task_id} not found"}}, 404)
        if request.headers.get("x-modelscope-task-type") != "image_generation":
            return JSONResponse({"error": {"message": "wrong task type"}}, 400)
        self.polls[task_id] += 1
        polls = self.polls[task_id]
        prompt = self.submitted[int(task_id[5:]) - 1]["prompt"]
        body: dict[str, Any] = {"task_id": task_id, "request_id": "req-2"}
        if "fail" in prompt and polls >= 2:
            body.update(task_status="FAILED", errors={"code": "engine", "message": "the painter spilled"})
        elif polls >= POLLS_TO_FINISH:
            url = f"{request.base_url}files/{task_id}.png?expires=9999999999&sig=abc"
            body.update(task_status="SUCCEED", progress=1.0, output_images=[url])
        else:
            body.update(task_status="RUNNING" if polls > 1 else "PENDING", progress=polls / POLLS_TO_FINISH)
        return JSONResponse(body)

    async def file(self, request: Request) -> Response:
        self.download_headers.append(dict(request.headers))
        return Response(tiny_png(), media_type="image/png")


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[FakeImages, str]]:
    service = FakeImages()
    with thread_server(service.app) as url:
        yield service, f"{url}/v1"


def test_image_task_with_progress_saved_as_png(fake: tuple[FakeImages, str], tmp_path: Path) -> None:
    service, base_url = fake
    folder = tmp_path / "pictures"
    child = spawn_chat(
        tmp_path, base_url, TOKEN, "--model", "fake/chat", "--image-dir", str(folder), "--no-color"
    )
    printed = say(child, "/image a golden cat")
    assert "RUNNING" in printed and "%" in printed and "#" in printed
    [saved] = list(folder.iterdir())
    assert f"saved {saved}" in printed.replace("\r\n", "")
    assert saved.suffix == ".png" and "a-golden-cat" in saved.name
    assert saved.read_bytes() == tiny_png()
    assert service.submitted[-1] == {"model": "fake/painter", "prompt": "a golden cat"}
    assert "authorization" not in service.download_headers[-1]  # a bare GET, as the reference client

    failed = say(child, "/image please fail")
    assert "failed: the painter spilled" in failed
    assert "usage: /image PROMPT" in say(child, "/image")
    assert quit_chat(child) == 0
    assert len(list(folder.iterdir())) == 1
