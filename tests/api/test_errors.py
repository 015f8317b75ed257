"""Bad input gets a clear 4xx in the OpenAI error shape, never a 5xx; engine failures are clean 500s."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from openmaas.access.tokens import new_token, token_hash
from tests.conftest import Harness

USER = [{"role": "user", "content": "hi"}]


def assert_openai_error(body: dict[str, Any], kind: str) -> dict[str, Any]:
    assert set(body) == {"error", "request_id"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == kind
    assert error["message"] and "Traceback" not in error["message"]
    assert body["request_id"].startswith("req-")
    return error


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_api_key"),
        ({"Authorization": "Bearer ms-not-a-token"}, "invalid_api_key"),
        ({"Authorization": f"Bearer {new_token()}"}, "invalid_api_key"),
        ({"Authorization": "Basic abc"}, "missing_api_key"),
    ],
)
async def test_authentication(harness: Harness, headers: dict[str, str], code: str) -> None:
    response = await harness.client.post(
        "/v1/chat/completions", json={"model": "test/scripted", "messages": USER}, headers=headers
    )
    assert response.status_code == 401
    assert assert_openai_error(response.json(), "authentication_error")["code"] == code


async def test_revoked_token_is_refused_on_the_next_request(harness: Harness) -> None:
    assert (await harness.chat({"model": "test/scripted", "messages": USER})).status_code == 200
    await harness.services.store.revoke_tokens(token_hash=token_hash(harness.token))
    assert (await harness.chat({"model": "test/scripted", "messages": USER})).status_code == 401


async def test_unknown_model(harness: Harness) -> None:
    response = await harness.chat({"model": "nobody/nothing", "messages": USER})
    assert response.status_code == 404
    error = assert_openai_error(response.json(), "not_found_error")
    assert error["param"] == "model" and "nobody/nothing" in error["message"]


async def test_token_restricted_to_other_models(harness: Harness) -> None:
    token = await harness.token_for("bob", models=("test/slow",))
    response = await harness.chat({"model": "test/scripted", "messages": USER}, token=token)
    assert response.status_code == 403
    assert_openai_error(response.json(), "permission_error")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": USER}, "model"),
        ({"model": "test/scripted"}, "messages"),
        ({"model": "test/scripted", "messages": []}, "messages"),
        ({"model": "test/scripted", "messages": USER, "temperature": "hot"}, "temperature"),
        ({"model": "test/scripted", "messages": USER, "temperature": 5}, "temperature"),
        ({"model": "test/scripted", "messages": USER, "max_tokens": 10**30}, "max_tokens"),
        ({"model": "test/scripted", "messages": USER, "max_tokens": 0}, "max_tokens"),
        ({"model": "test/scripted", "messages": USER, "n": 0}, "n"),
        ({"model": "test/scripted", "messages": USER, "stop": ["x"] * 40}, "stop"),
        ({"model": "test/scripted", "messages": USER, "stream": "yes please"}, "stream"),
        ({"model": "test/scripted", "messages": [{"role": "wizard", "content": "hi"}]}, "messages.0.role"),
        ({"model": "test/scripted", "messages": [{"content": "hi"}]}, "messages.0.role"),
        (
            {"model": "test/scripted", "messages": [{"role": "tool", "content": "42"}]},
            "messages.0.tool_call_id",
        ),
        ({"model": "test/scripted", "messages": [{"role": "user", "content": [{"type": "audio"}]}]}, None),
        ({"model": "test/scripted", "messages": USER, "tool_choice": "required"}, "tool_choice"),
        ({"model": "test/scripted", "messages": USER, "response_format": {"type": "json_schema"}}, None),
        ({"model": "test/scripted", "messages": "hello"}, "messages"),
    ],
)
async def test_invalid_bodies(harness: Harness, body: dict[str, Any], param: str | None) -> None:
    response = await harness.chat(body)
    assert response.status_code == 400, response.text
    error = assert_openai_error(response.json(), "invalid_request_error")
    if param is not None:
        assert error["param"] is not None and error["param"].startswith(param)


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]", b'"text"', b"\xff\xfe"])
async def test_unparseable_bodies(harness: Harness, raw: bytes) -> None:
    response = await harness.client.post(
        "/v1/chat/completions", content=raw, headers={**harness.auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert_openai_error(response.json(), "invalid_request_error")


async def test_body_too_large(harness: Harness) -> None:
    huge = {"model": "test/scripted", "messages": [{"role": "user", "content": "x" * (12 * 1024 * 1024)}]}
    response = await harness.chat(huge)
    assert response.status_code == 413
    assert_openai_error(response.json(), "invalid_request_error")


async def test_body_too_large_without_content_length(harness: Harness) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(12):
            yield b"x" * (1024 * 1024)

    response = await harness.client.post(
        "/v1/chat/completions", content=chunks(), headers={**harness.auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 413


async def test_engine_failure_is_a_clean_500_and_not_counted(harness: Harness) -> None:
    response = await harness.chat({"model": "test/broken", "messages": USER})
    assert response.status_code == 500
    assert_openai_error(response.json(), "server_error")
    streamed = await harness.chat({"model": "test/broken", "messages": USER, "stream": True})
    assert streamed.status_code == 500
    user = await harness.services.store.get_user("alice")
    assert user is not None
    used, _ = await harness.services.counter.used(user.id, harness.services.quota_day.today())
    assert used == 0


async def test_unknown_route_and_method(harness: Harness) -> None:
    response = await harness.client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert_openai_error(response.json(), "not_found_error")
    wrong = await harness.client.get("/v1/chat/completions", headers=harness.auth)
    assert wrong.status_code == 405
    assert wrong.json()["error"]["message"]
