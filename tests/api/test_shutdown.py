"""SIGTERM: readiness 503 at once, new calls refused in their dialect, running calls finish within the
grace, and those still running after it end with their dialect's error event (and `[DONE]`), never a cut
body; no traceback in the log; image tasks left running are taken up again after a restart.

Before, a fixed 10 s grace cut 7 of 10 long streams mid-body, and the log showed CancelledError
tracebacks. Each test runs a real `openmaas serve` process and the real SDKs.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.api.test_usage_ledger import ledger_calls, used_today
from tests.servers import ServerProcess, cli, server_process

MODELS = """
include_builtin = false

[[models]]
id = "test/steady"
task = "chat"
engine = "tests.fakes:ScriptedChatEngine"
[models.options]
reply = "{reply}"
token_delay = 0.05

[[models]]
id = "test/slow-painter"
task = "image"
engine = "tests.fakes:ScriptedImageEngine"
[models.options]
default_size = "64x64"
default_steps = 30
step_delay = 0.1
"""
USER: Any = [{"role": "user", "content": "Tell me a story."}]


@pytest.fixture
def models_file(tmp_path: Path) -> Path:
    path = tmp_path / "models.toml"
    path.write_text(MODELS.format(reply=" ".join(f"w{i}" for i in range(400))))  # 20 s of tokens
    return path


@pytest.fixture
def token(tmp_path: Path) -> str:
    cli(tmp_path / "data", "users", "add", "alice")
    return cli(tmp_path / "data", "tokens", "create", "alice").stdout.strip()


def sdk(server: ServerProcess, token: str) -> tuple[openai.AsyncOpenAI, anthropic.AsyncAnthropic]:
    return (
        openai.AsyncOpenAI(base_url=f"{server.base_url}/v1", api_key=token, max_retries=0, timeout=60),
        anthropic.AsyncAnthropic(base_url=server.base_url, api_key=token, max_retries=0, timeout=60),
    )


async def openai_stream(
    client: openai.AsyncOpenAI, max_tokens: int
) -> tuple[int, str | None, BaseException | None]:
    """Tokens received, the finish reason, and the error the stream ended with."""
    stream = await client.chat.completions.create(
        model="test/steady", messages=USER, max_tokens=max_tokens, stream=True
    )
    tokens, finish = 0, None
    try:
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                tokens += 1
            if chunk.choices and chunk.choices[0].finish_reason:
                finish = chunk.choices[0].finish_reason
    except openai.APIError as exc:
        return tokens, finish, exc
    return tokens, finish, None


async def anthropic_stream(
    client: anthropic.AsyncAnthropic, max_tokens: int
) -> tuple[int, BaseException | None]:
    tokens = 0
    try:
        async with client.messages.stream(
            model="test/steady", messages=USER, max_tokens=max_tokens
        ) as stream:
            async for _ in stream.text_stream:
                tokens += 1
            await stream.get_final_message()
    except anthropic.APIError as exc:
        return tokens, exc
    return tokens, None


def terminate(server: ServerProcess) -> float:
    """Send SIGTERM; the seconds until readiness says 503."""
    sent = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    while httpx.get(f"{server.base_url}/readyz", timeout=5).status_code != 503:
        time.sleep(0.01)
    return time.monotonic() - sent


def assert_clean_log(server: ServerProcess) -> None:
    log = server.log()
    assert "Traceback" not in log and "CancelledError" not in log, log[-3000:]
    assert "Exception in ASGI application" not in log


async def test_running_calls_finish_within_the_grace(tmp_path: Path, models_file: Path, token: str) -> None:
    with server_process(tmp_path / "data", models_file, extra=("--shutdown-grace", "30")) as server:
        openai_client, anthropic_client = sdk(server, token)
        streams = [asyncio.create_task(openai_stream(openai_client, 40)) for _ in range(4)]
        messages = [asyncio.create_task(anthropic_stream(anthropic_client, 40)) for _ in range(2)]
        plain = asyncio.create_task(
            openai_client.chat.completions.create(model="test/steady", messages=USER, max_tokens=40)
        )
        await asyncio.sleep(0.5)
        assert await asyncio.to_thread(terminate, server) < 2

        # New calls are refused in their own dialect, while the running ones go on.
        refused = await asyncio.to_thread(
            httpx.post,
            f"{server.base_url}/v1/chat/completions",
            json={"model": "test/steady", "messages": USER},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "shutting_down"
        assert refused.headers["retry-after"] and refused.headers["connection"] == "close"
        refused = await asyncio.to_thread(
            httpx.post,
            f"{server.base_url}/v1/messages",
            json={"model": "test/steady", "messages": USER, "max_tokens": 5},
            headers={"x-api-key": token},
        )
        assert refused.status_code == 503 and refused.json()["error"]["type"] == "overloaded_error"

        assert [await s for s in streams] == [(40, "length", None)] * 4
        assert [await m for m in messages] == [(40, None)] * 2
        answer = await plain
        assert (
            answer.choices[0].finish_reason == "length"
            and answer.usage
            and answer.usage.completion_tokens == 40
        )
        await asyncio.to_thread(server.process.wait, 20)
    assert_clean_log(server)


async def test_calls_still_running_after_the_grace_end_with_an_error_event(
    tmp_path: Path, models_file: Path, token: str
) -> None:
    data = tmp_path / "data"
    with server_process(data, models_file, extra=("--shutdown-grace", "1")) as server:
        openai_client, anthropic_client = sdk(server, token)
        streams = [asyncio.create_task(openai_stream(openai_client, 400)) for _ in range(4)]
        messages = [asyncio.create_task(anthropic_stream(anthropic_client, 400)) for _ in range(2)]
        plain = asyncio.create_task(
            openai_client.chat.completions.create(model="test/steady", messages=USER, max_tokens=400)
        )
        await asyncio.sleep(0.5)
        sent = time.monotonic()
        await asyncio.to_thread(terminate, server)

        for tokens, finish, error in [await s for s in streams]:
            assert 5 < tokens < 400 and finish is None
            assert isinstance(error, openai.APIError) and "shutting down" in error.message
        for tokens, error in [await m for m in messages]:
            assert 5 < tokens < 400
            assert isinstance(error, anthropic.APIError) and "shutting down" in str(error)
        with pytest.raises(openai.InternalServerError) as refused:
            await plain
        assert refused.value.status_code == 503
        await asyncio.to_thread(server.process.wait, 20)
        assert time.monotonic() - sent < 10
    assert_clean_log(server)
    # The calls the shutdown cut were given back: none counted, in the counter or the ledger.
    assert used_today(data, "alice") == ledger_calls(data, "alice")[0] == 0


async def test_raw_streams_end_with_done_not_a_cut_body(
    tmp_path: Path, models_file: Path, token: str
) -> None:
    with server_process(tmp_path / "data", models_file, extra=("--shutdown-grace", "0.5")) as server:
        headers = {"Authorization": f"Bearer {token}"}
        body = {"model": "test/steady", "messages": USER, "max_tokens": 400, "stream": True}
        async with (
            httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=60) as client,
            client.stream("POST", "/v1/chat/completions", json=body) as response,
        ):
            lines = response.aiter_lines()
            await anext(lines)
            await asyncio.to_thread(server.process.send_signal, signal.SIGTERM)
            received = [line async for line in lines if line]
        assert received[-1] == "data: [DONE]"
        assert '"code":"shutting_down"' in received[-2]
        await asyncio.to_thread(server.process.wait, 20)
    assert_clean_log(server)


async def test_an_image_task_running_at_shutdown_is_taken_up_after_a_restart(
    tmp_path: Path, models_file: Path, token: str
) -> None:
    data = tmp_path / "data"
    headers = {"Authorization": f"Bearer {token}", "X-ModelScope-Async-Mode": "true"}
    with server_process(data, models_file, extra=("--shutdown-grace", "0.5")) as server:
        submitted = httpx.post(
            f"{server.base_url}/v1/images/generations",
            json={"model": "test/slow-painter", "prompt": "a cat"},
            headers=headers,
        )
        task_id = submitted.json()["task_id"]
        while (
            httpx.get(f"{server.base_url}/v1/tasks/{task_id}", headers=headers).json()["task_status"]
            != "RUNNING"
        ):
            await asyncio.sleep(0.05)
        server.process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(server.process.wait, 20)
    assert_clean_log(server)
    with server_process(data, models_file) as restarted:
        deadline = time.monotonic() + 30
        while (task := httpx.get(f"{restarted.base_url}/v1/tasks/{task_id}", headers=headers).json())[
            "task_status"
        ] not in ("SUCCEED", "FAILED"):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        assert task["task_status"] == "SUCCEED"
