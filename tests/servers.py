"""Running OpenMaaS for tests: in-process (ASGI or uvicorn on 127.0.0.1 in the test's loop) and as a
real `openmaas serve` process on a free port."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp

from openmaas.services.accounts import mint_token
from openmaas.services.container import Services

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[Services]:
    """Run the app's start-up and shut-down around a block, as a server would."""
    async with app.router.lifespan_context(app):
        services: Services = app.state.services
        yield services


@contextlib.asynccontextmanager
async def asgi_client(app: FastAPI) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    async with lifespan(app) as services:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, services


@contextlib.asynccontextmanager
async def uvicorn_server(app: FastAPI) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 (a free port) inside the running loop; yields the base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("server stopped during start-up")
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


async def add_user_with_token(
    services: Services,
    name: str,
    *,
    daily_limit: int | None = None,
    model_daily_limit: int | None = None,
    admin: bool = False,
    models: tuple[str, ...] | None = None,
) -> str:
    user = await services.store.get_user(name)
    if user is None:
        user = await services.store.add_user(
            name, is_admin=admin, daily_limit=daily_limit, model_daily_limit=model_daily_limit
        )
    return (await mint_token(services.store, user, label="test", models=models)).text


def cli(
    data_dir: Path, *args: str, models_file: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run `openmaas ARGS` as a user would, in a separate process."""
    command = [sys.executable, "-m", "openmaas", *args, "--data-dir", str(data_dir)]
    if models_file is not None:
        command += ["--models", str(models_file)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=_env(), check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"openmaas {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


@dataclass
class ServerProcess:
    """A real `openmaas serve` process on 127.0.0.1."""

    process: subprocess.Popen[str]
    base_url: str
    data_dir: Path
    log_path: Path
    #: The registry it serves (the CLI needs it to scope a token to one of its models).
    models_file: Path | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


@contextlib.contextmanager
def server_process(
    data_dir: Path,
    models_file: Path | None = None,
    *,
    ready_timeout: float = 180,
    extra: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> Iterator[ServerProcess]:
    """`env` adds environment variables (settings such as `OPENMAAS_FETCH_ALLOW_NETWORKS`)."""
    port = free_port()
    log_path = data_dir / f"server-{port}.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "openmaas",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        *extra,
    ]
    if models_file is not None:
        command += ["--models", str(models_file)]
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            command, stdout=log_file, stderr=subprocess.STDOUT, text=True, env={**_env(), **(env or {})}
        )
    server = ServerProcess(process, f"http://127.0.0.1:{port}", data_dir, log_path, models_file)
    try:
        wait_ready(server, ready_timeout)
        yield server
    finally:
        server.stop()


def wait_ready(server: ServerProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}:\n{server.log()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.base_url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(f"server not ready after {timeout} s:\n{server.log()}")


@contextlib.contextmanager
def thread_server(app: ASGIApp) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on 127.0.0.1 in a background thread; yields the base URL.

    For small fakes of other services that a synchronous client (or another process) talks to.
    """
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"fake-server-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the fake server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
