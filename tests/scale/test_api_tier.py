"""Several `openmaas serve` processes on one PostgreSQL and Redis: exact quotas across processes and
revocation that every process honours on its very next request."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx

from tests.cluster import api_process, cluster_env, started_together
from tests.servers import REPO

MODELS = """include_builtin = false
[[models]]
id = "test/scripted"
task = "chat"
engine = "tests.fakes:ScriptedChatEngine"
[models.options]
reply = "Hello! You said: {last_user}"
"""


def openmaas(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "openmaas", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


async def test_four_processes_count_one_quota_and_honour_revocation(
    tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str
) -> None:
    env = cluster_env(redis_url, redis_prefix, postgres_url)
    models = tmp_path / "models.toml"
    models.write_text(MODELS)
    data = str(tmp_path / "cli")
    openmaas(env, "users", "add", "alice", "--daily-limit", "100", "--data-dir", data)
    token = openmaas(env, "tokens", "create", "alice", "--data-dir", data)
    auth = {"Authorization": f"Bearer {token}"}
    with started_together(*(api_process(tmp_path / f"api{i}", models, env) for i in range(4))) as apis:
        limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
        async with httpx.AsyncClient(limits=limits, timeout=60) as client:
            body = {"model": "test/scripted", "messages": [{"role": "user", "content": "hi"}]}
            calls = [
                client.post(f"{apis[i % 4].base_url}/v1/chat/completions", json=body, headers=auth)
                for i in range(400)
            ]
            statuses = [r.status_code for r in await asyncio.gather(*calls)]
            assert (statuses.count(200), statuses.count(429)) == (100, 300)
        # Fresh connections from here on: idle keep-alive connections may be closed by the servers
        # while the CLI runs (a race no client can rule out), which is not what this test is about.
        for api in apis:  # every process has the token in its cache now
            usage = httpx.get(f"{api.base_url}/v1/usage", headers=auth, timeout=30)
            assert usage.status_code == 200 and usage.json()["used"] == 100
        openmaas(env, "tokens", "revoke", token, "--data-dir", data)
        for api in apis:
            refused = httpx.get(f"{api.base_url}/v1/usage", headers=auth, timeout=30)
            assert refused.status_code == 401, api.base_url
    # The ledger, written off the response path by four processes, adds up too.
    row = next(line for line in openmaas(env, "usage", "--data-dir", data).splitlines() if "alice" in line)
    assert row.split()[3] == "100"
