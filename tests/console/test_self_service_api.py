"""`/console/api/…` in-process: who am I, the caller's own tokens (created once, revoked, never another
user's), and the personas the chat playground shares with `openmaas chat`."""

from __future__ import annotations

import tomllib
from importlib.resources import files
from typing import Any

import httpx

from openmaas.services.accounts import MAX_ACTIVE_TOKENS
from tests.conftest import Harness

ASK = {"model": "test/scripted", "messages": [{"role": "user", "content": "hi"}]}


async def call(
    harness: Harness, method: str, path: str, body: Any = None, token: str | None = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token or harness.token}"}
    return await harness.client.request(method, path, json=body, headers=headers)


async def test_me_names_the_user_and_the_token(harness: Harness) -> None:
    body = (await call(harness, "GET", "/console/api/me")).json()
    assert body["name"] == "alice" and body["is_admin"] is False
    assert body["token"]["prefix"] == harness.token[:11] and body["token"]["models"] is None
    assert harness.token not in str(body)
    assert (await harness.client.get("/console/api/me")).status_code == 401


async def test_own_tokens_are_created_once_listed_and_revoked(harness: Harness) -> None:
    created = await call(harness, "POST", "/console/api/tokens", {"label": "  notebook  "})
    assert created.status_code == 201
    token = created.json()["token"]
    assert created.json()["label"] == "notebook" and created.json()["models"] is None
    assert (await harness.chat(ASK, token=token)).status_code == 200

    listed = (await call(harness, "GET", "/console/api/tokens")).json()["data"]
    assert [t["label"] for t in listed] == ["notebook", "test"]  # newest first
    assert all("token" not in t for t in listed)

    revoked = await call(harness, "DELETE", f"/console/api/tokens/{created.json()['id']}")
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    assert (await harness.chat(ASK, token=token)).status_code == 401
    assert (await harness.chat(ASK)).status_code == 200  # the session's own token still works


async def test_another_users_token_does_not_exist_here(harness: Harness) -> None:
    bob = await harness.token_for("bob")
    bobs = (await call(harness, "GET", "/console/api/tokens", token=bob)).json()["data"][0]
    refused = await call(harness, "DELETE", f"/console/api/tokens/{bobs['id']}")
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "token_not_found"
    assert (await harness.chat(ASK, token=bob)).status_code == 200
    mine = (await call(harness, "GET", "/console/api/tokens")).json()["data"]
    assert {t["user"] for t in mine} == {"alice"}


async def test_a_scoped_token_issues_only_scoped_tokens(harness: Harness) -> None:
    scoped = await harness.token_for("alice", models=("test/scripted", "test/slow"))
    inherited = await call(harness, "POST", "/console/api/tokens", {}, token=scoped)
    assert inherited.json()["models"] == ["test/scripted", "test/slow"]
    narrower = await call(harness, "POST", "/console/api/tokens", {"models": ["test/slow"]}, token=scoped)
    assert narrower.status_code == 201 and narrower.json()["models"] == ["test/slow"]
    wider = await call(harness, "POST", "/console/api/tokens", {"models": ["test/capped"]}, token=scoped)
    assert wider.status_code == 400 and wider.json()["error"]["param"] == "models"
    assert "cannot issue" in wider.json()["error"]["message"]


async def test_bad_token_requests(harness: Harness) -> None:
    cases = [
        ({"label": "x" * 201}, "label"),
        ({"label": 5}, "label"),
        ({"models": []}, "models"),
        ({"models": ["no/such-model"]}, "models"),
        ({"models": "test/scripted"}, "models"),
    ]
    for body, param in cases:
        response = await call(harness, "POST", "/console/api/tokens", body)
        assert response.status_code == 400, body
        assert response.json()["error"]["param"] == param, body
    assert (await call(harness, "DELETE", "/console/api/tokens/nope")).status_code == 404


async def test_active_tokens_are_capped(harness: Harness) -> None:
    for _ in range(MAX_ACTIVE_TOKENS - 1):
        assert (await call(harness, "POST", "/console/api/tokens", {})).status_code == 201
    refused = await call(harness, "POST", "/console/api/tokens", {})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "too_many_tokens"


async def test_personas_are_the_terminal_chats(harness: Harness) -> None:
    builtin = tomllib.loads(files("openmaas").joinpath("personas.toml").read_text("utf-8"))
    body = (await call(harness, "GET", "/console/api/personas")).json()
    assert body["default"] == "assistant"
    served = {p["name"]: p for p in body["data"]}
    assert set(served) == set(builtin)
    assert served["cat"]["system"] == builtin["cat"]["system"].strip()
    assert "小猫" in served["cat"]["aliases"]
    assert (await harness.client.get("/console/api/personas")).status_code == 401


async def test_the_data_dirs_personas_are_added(harness: Harness) -> None:
    personas = harness.services.settings.data_dir / "personas.toml"
    personas.write_text('[pirate]\ndescription = "a pirate"\nsystem = "You are a pirate."\n')
    names = [p["name"] for p in (await call(harness, "GET", "/console/api/personas")).json()["data"]]
    assert "pirate" in names and "cat" in names
    personas.write_text("[broken\n")
    names = [p["name"] for p in (await call(harness, "GET", "/console/api/personas")).json()["data"]]
    assert "cat" in names and "pirate" not in names
