"""The CLI and the admin API keep the same account rules: what one refuses, the other refuses, with the
same message (both go through `openmaas.services.accounts`)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from openmaas.services.accounts import MAX_ACTIVE_TOKENS, MAX_LABEL, mint_token
from openmaas.settings import Settings
from tests.conftest import Harness
from tests.servers import cli


async def refused_by_api(harness: Harness, token: str, path: str, body: dict[str, Any]) -> str:
    response = await harness.client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400, response.text
    message: str = response.json()["error"]["message"]
    return message


async def refused_by_cli(settings: Settings, models_file: Path, *args: str) -> str:
    done = await asyncio.to_thread(cli, settings.data_dir, *args, models_file=models_file, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    return done.stderr


async def test_the_cli_refuses_what_the_admin_api_refuses(
    harness: Harness, settings: Settings, models_file: Path
) -> None:
    admin = await harness.token_for("root", admin=True)
    refusals: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
        ("/admin/api/users", {"name": "a/b"}, ("users", "add", "a/b")),
        (
            "/admin/api/users/alice/tokens",
            {"label": "x" * (MAX_LABEL + 1)},
            ("tokens", "create", "alice", "--label", "x" * (MAX_LABEL + 1)),
        ),
        (
            "/admin/api/users/alice/tokens",
            {"models": ["nowhere/model"]},
            ("tokens", "create", "alice", "--model", "nowhere/model"),
        ),
    ]
    for path, body, args in refusals:
        message = await refused_by_api(harness, admin, path, body)
        assert message in await refused_by_cli(settings, models_file, *args)

    store = harness.services.store
    alice = await store.get_user("alice")
    assert alice is not None
    active = sum(1 for t in await store.list_tokens("alice") if t.active)
    for _ in range(MAX_ACTIVE_TOKENS - active):
        await mint_token(store, alice, label="", models=None)
    message = await refused_by_api(harness, admin, "/admin/api/users/alice/tokens", {})
    assert "active tokens" in message
    assert message in await refused_by_cli(settings, models_file, "tokens", "create", "alice")
