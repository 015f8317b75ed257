"""The usage ledger agrees with the quota counters on calls, also after kill -9, and `/v1/usage` and
`openmaas usage` (the ledger) agree while the server runs.

The ledger used to be written in batches half a second after each answer: 20 calls then kill -9 left
`/v1/usage` at 20 and `openmaas usage` at 17. Now a call enters the ledger when it is reserved.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Harness
from tests.servers import ServerProcess, cli, server_process

USER = [{"role": "user", "content": "hi"}]


def used_today(data: Path, name: str) -> int:
    """USED TODAY of `openmaas users list`: the quota counter."""
    for line in cli(data, "users", "list").stdout.splitlines()[1:]:
        if line.split()[0] == name:
            return int(line.split()[-2])
    raise AssertionError(f"no user {name}")


def ledger_calls(data: Path, name: str) -> tuple[int, int]:
    """Calls and completion tokens of `openmaas usage NAME`: the ledger."""
    rows = [line.split() for line in cli(data, "usage", name).stdout.splitlines()[1:]]
    return sum(int(row[3]) for row in rows), sum(int(row[5]) for row in rows)


async def calls_then_streams_in_flight(server: ServerProcess, token: str, calls: int, streams: int) -> None:
    """`calls` finished chat calls, then `streams` slow streams that have begun (so are counted)."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=30) as client:
        answers = await asyncio.gather(
            *(
                client.post("/v1/chat/completions", json={"model": "test/scripted", "messages": USER})
                for _ in range(calls)
            )
        )
        assert all(answer.status_code == 200 for answer in answers)
        body = {"model": "test/slow", "messages": USER, "stream": True}
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(streams):
                response = await stack.enter_async_context(
                    client.stream("POST", "/v1/chat/completions", json=body)
                )
                assert response.status_code == 200
                await anext(response.aiter_lines())
            server.kill()


@contextlib.contextmanager
def killed_server(data: Path, models_file: Path, env: dict[str, str]) -> Iterator[str]:
    cli(data, "users", "add", "alice")
    token = cli(data, "tokens", "create", "alice").stdout.strip()
    with server_process(data, models_file, env=env) as server:
        asyncio.run(calls_then_streams_in_flight(server, token, calls=20, streams=5))
        assert server.process.returncode == -9
    yield token


def test_ledger_equals_counter_after_kill_9(tmp_path: Path, models_file: Path) -> None:
    data = tmp_path / "data"
    with killed_server(data, models_file, env={}):
        assert used_today(data, "alice") == 25
        assert ledger_calls(data, "alice")[0] == 25


def test_ledger_equals_counter_after_kill_9_scaled_out(
    tmp_path: Path,
    models_file: Path,
    postgres_url: str,
    redis_prefix: str,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {
        "OPENMAAS_DATABASE_URL": postgres_url,
        "OPENMAAS_REDIS_URL": redis_url,
        "OPENMAAS_REDIS_PREFIX": redis_prefix,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # for the CLI as well
    data = tmp_path / "data"
    with killed_server(data, models_file, env=env):
        assert used_today(data, "alice") == 25
        assert ledger_calls(data, "alice")[0] == 25


async def test_usage_endpoint_and_ledger_agree_at_once(harness: Harness) -> None:
    """`GET /v1/usage` (the counters) and the ledger `openmaas usage` reads, right after each call."""
    today = harness.services.quota_day.today()

    async def ledger() -> int:
        return sum(row.calls for row in await harness.services.store.usage(today, today, "alice"))

    for model, status in (("test/scripted", 200), ("test/slow", 200), ("test/broken", 500)):
        answer = await harness.chat({"model": model, "messages": USER})
        assert answer.status_code == status
        usage = (await harness.client.get("/v1/usage", headers=harness.auth)).json()
        assert usage["used"] == await ledger()
    assert usage["used"] == 2
