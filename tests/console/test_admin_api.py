"""The admin API in-process: admin only (401 without a token, 403 for anyone else), users with their
limits and today's calls, limit changes that apply on the next request, tokens, models, usage ranges,
and a clear 400 for every bad input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Harness

ADMIN_GETS = ("/admin/api/users", "/admin/api/tokens", "/admin/api/models", "/admin/api/usage")
ASK = {"model": "test/scripted", "messages": [{"role": "user", "content": "hi"}]}


class Admin:
    def __init__(self, harness: Harness, token: str) -> None:
        self.harness = harness
        self.token = token

    async def call(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return await self.harness.client.request(method, path, json=body, headers=headers)


@pytest.fixture
async def admin(harness: Harness) -> Admin:
    return Admin(harness, await harness.token_for("root", admin=True))


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


async def test_only_admins_with_an_unrestricted_token_get_in(admin: Admin, harness: Harness) -> None:
    scoped = await harness.token_for("root", models=("test/scripted",))
    for path in ADMIN_GETS:
        assert (await admin.call("GET", path)).status_code == 200
        assert error_of(await harness.client.get(path), 401)["code"] == "missing_api_key"
        assert error_of(await admin.call("GET", path, token=harness.token), 403)["type"] == "permission_error"
        assert (
            "limited to some models" in error_of(await admin.call("GET", path, token=scoped), 403)["message"]
        )
    refused = await admin.call("PATCH", "/admin/api/users/alice", {"daily_limit": 5}, token=harness.token)
    assert refused.status_code == 403
    assert (
        await admin.call("POST", "/admin/api/users", {"name": "eve"}, token=harness.token)
    ).status_code == 403


async def test_users_show_limits_and_todays_calls(admin: Admin, harness: Harness) -> None:
    assert (await harness.chat(ASK)).status_code == 200
    body = (await admin.call("GET", "/admin/api/users")).json()
    assert body["object"] == "list"
    assert body["defaults"] == {"daily_limit": 2000, "model_daily_limit": None}
    assert body["timezone"] == "Asia/Shanghai" and body["reset_at"] > body["day"]
    alice = next(u for u in body["data"] if u["name"] == "alice")
    assert alice == {
        "object": "user",
        "name": "alice",
        "is_admin": False,
        "daily_limit": None,
        "model_daily_limit": None,
        "effective_daily_limit": 2000,
        "effective_model_daily_limit": None,
        "used_today": 1,
        "remaining_today": 1999,
        "used_today_by_model": {"test/scripted": 1},
        "active_tokens": 1,
        "created_at": alice["created_at"],
    }
    assert [u["name"] for u in body["data"]] == ["alice", "root"]


async def test_a_changed_limit_applies_to_the_next_call(admin: Admin, harness: Harness) -> None:
    changed = await admin.call("PATCH", "/admin/api/users/alice", {"daily_limit": 1})
    assert changed.status_code == 200
    assert changed.json()["daily_limit"] == 1 and changed.json()["effective_daily_limit"] == 1
    assert (await harness.chat(ASK)).status_code == 200
    refused = await harness.chat(ASK)
    assert refused.status_code == 429 and "Daily limit of 1 calls" in refused.json()["error"]["message"]

    reset = await admin.call("PATCH", "/admin/api/users/alice", {"daily_limit": None, "model_daily_limit": 2})
    assert reset.json()["daily_limit"] is None and reset.json()["effective_daily_limit"] == 2000
    assert reset.json()["model_daily_limit"] == 2
    assert (await harness.chat(ASK)).status_code == 200
    assert (await harness.chat(ASK)).status_code == 429  # 2 on this model today

    promoted = await admin.call("PATCH", "/admin/api/users/alice", {"is_admin": True})
    assert promoted.json()["is_admin"] is True
    assert (await admin.call("GET", "/admin/api/models", token=harness.token)).status_code == 200


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "daily_limit"),
        ({"dailyLimit": 5}, "daily_limit"),
        ({"daily_limit": -1}, "daily_limit"),
        ({"daily_limit": "5"}, "daily_limit"),
        ({"daily_limit": True}, "daily_limit"),
        ({"daily_limit": 1.5}, "daily_limit"),
        ({"daily_limit": 10**12}, "daily_limit"),
        ({"model_daily_limit": [1]}, "model_daily_limit"),
        ({"is_admin": "yes"}, "is_admin"),
        ({"is_admin": None}, "is_admin"),
    ],
)
async def test_bad_changes_are_a_clear_400(admin: Admin, body: dict[str, Any], param: str) -> None:
    error = error_of(await admin.call("PATCH", "/admin/api/users/alice", body), 400)
    assert error["param"] == param and error["type"] == "invalid_request_error"


async def test_other_bad_requests(admin: Admin) -> None:
    assert (
        error_of(await admin.call("PATCH", "/admin/api/users/nobody", {"daily_limit": 1}), 404)["param"]
        == "name"
    )
    assert error_of(await admin.call("GET", "/admin/api/users/nobody"), 404)["code"] == "user_not_found"
    own = error_of(await admin.call("PATCH", "/admin/api/users/root", {"is_admin": False}), 400)
    assert "your own admin rights" in own["message"]
    headers = {"Authorization": f"Bearer {admin.token}", "Content-Type": "application/json"}
    broken = await admin.harness.client.patch("/admin/api/users/alice", content=b"{not json", headers=headers)
    assert error_of(broken, 400)["code"] == "invalid_json"
    assert (await admin.call("DELETE", "/admin/api/users/alice")).status_code == 405
    assert (await admin.call("GET", "/admin/api/nothing")).status_code == 404


async def test_adding_users_and_issuing_their_tokens(admin: Admin, harness: Harness) -> None:
    added = await admin.call("POST", "/admin/api/users", {"name": "bob", "daily_limit": 10})
    assert added.status_code == 201 and added.json()["effective_daily_limit"] == 10
    assert error_of(await admin.call("POST", "/admin/api/users", {"name": "bob"}), 400)["param"] == "name"
    for name in ("", "has space", "x" * 65, "-dash", "名字"):
        assert error_of(await admin.call("POST", "/admin/api/users", {"name": name}), 400)["param"] == "name"
    assert error_of(await admin.call("POST", "/admin/api/users", {}), 400)["param"] == "name"

    issued = await admin.call("POST", "/admin/api/users/bob/tokens", {"label": "laptop"})
    assert issued.status_code == 201
    token = issued.json()["token"]
    assert issued.json()["user"] == "bob" and issued.json()["prefix"] == token[:11]
    assert (await harness.chat(ASK, token=token)).status_code == 200
    scoped = await admin.call("POST", "/admin/api/users/bob/tokens", {"models": ["test/slow"]})
    assert scoped.json()["models"] == ["test/slow"]
    assert (await harness.chat(ASK, token=scoped.json()["token"])).status_code == 403
    assert (await admin.call("POST", "/admin/api/users/nobody/tokens", {})).status_code == 404


async def test_tokens_are_listed_by_prefix_and_revoked_at_once(admin: Admin, harness: Harness) -> None:
    listed = (await admin.call("GET", "/admin/api/tokens")).json()["data"]
    assert {t["user"] for t in listed} == {"alice", "root"}
    assert all("token" not in t and len(t["prefix"]) == 11 for t in listed)
    assert harness.token[:11] in {t["prefix"] for t in listed}
    alice = (await admin.call("GET", "/admin/api/tokens?user=alice")).json()["data"]
    assert [t["user"] for t in alice] == ["alice"]

    revoked = await admin.call("DELETE", f"/admin/api/tokens/{alice[0]['id']}")
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    assert revoked.json()["revoked_at"].endswith("Z")
    assert (await harness.chat(ASK)).status_code == 401
    again = await admin.call("DELETE", f"/admin/api/tokens/{alice[0]['id']}")
    assert again.status_code == 200 and again.json()["revoked_at"] == revoked.json()["revoked_at"]
    active = (await admin.call("GET", "/admin/api/tokens?active=true")).json()["data"]
    assert [t["user"] for t in active] == ["root"]
    for bad in ("999999", "abc", "1e3", "-1"):
        assert (
            error_of(await admin.call("DELETE", f"/admin/api/tokens/{bad}"), 404)["code"] == "token_not_found"
        )


async def test_models_with_their_load_status(admin: Admin) -> None:
    models = {m["id"]: m for m in (await admin.call("GET", "/admin/api/models")).json()["data"]}
    assert set(models) == {"test/scripted", "test/slow", "test/broken", "test/capped"}
    capped = models["test/capped"]
    assert capped["status"] == "ready" and capped["daily_cap"] == 3 and capped["task"] == "chat"
    assert capped["engine"] == "tests.fakes:ScriptedChatEngine"
    assert capped["running"] == 0 and capped["queued"] == 0


async def test_usage_across_users_over_a_range(admin: Admin, harness: Harness) -> None:
    bob = await harness.token_for("bob")
    for token in (harness.token, harness.token, bob):
        assert (await harness.chat(ASK, token=token)).status_code == 200
    today = harness.services.quota_day.today().isoformat()
    body = (await admin.call("GET", "/admin/api/usage")).json()  # the ledger is drained first
    assert body["to"] == today and body["calls"] == 3
    alice, bob_total = body["by_user"]
    assert (alice["user"], alice["calls"], alice["completion_tokens"]) == ("alice", 2, 8)  # 4 tokens a reply
    assert (bob_total["user"], bob_total["calls"]) == ("bob", 1)
    assert body["by_model"] == [
        {
            "model": "test/scripted",
            "calls": 3,
            "prompt_tokens": body["prompt_tokens"],
            "completion_tokens": 12,
        }
    ]
    assert [(r["day"], r["user"]) for r in body["data"]] == [(today, "alice"), (today, "bob")]
    only_bob = (await admin.call("GET", f"/admin/api/usage?from={today}&to={today}&user=bob")).json()
    assert only_bob["calls"] == 1 and only_bob["user"] == "bob"
    earlier = (await admin.call("GET", "/admin/api/usage?from=2020-01-01&to=2020-01-31")).json()
    assert earlier["calls"] == 0 and earlier["data"] == []


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("from=yesterday", "from"),
        ("to=2026-13-01", "to"),
        ("from=2026-02-01&to=2026-01-01", "from"),
        ("from=2020-01-01&to=2026-01-01", "from"),
    ],
)
async def test_bad_usage_ranges(admin: Admin, query: str, param: str) -> None:
    assert error_of(await admin.call("GET", f"/admin/api/usage?{query}"), 400)["param"] == param


async def test_usage_of_an_unknown_user(admin: Admin) -> None:
    assert error_of(await admin.call("GET", "/admin/api/usage?user=nobody"), 404)["param"] == "name"
