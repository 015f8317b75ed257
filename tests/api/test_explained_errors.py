"""Errors that explain the mistakes people make with the snippets in circulation, in the route's own shape:
a key joined with a string literal, a base URL without or with one /v1 too many, a token that is not
one of this server's, a model called at the wrong endpoint."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from openmaas.app import create_app
from openmaas.catalog import load_catalog
from openmaas.settings import Settings
from tests.conftest import SCRIPTED_MODELS, Harness
from tests.servers import add_user_with_token, asgi_client

MODELS = (
    SCRIPTED_MODELS
    + """
[[models]]
id = "test/painter"
task = "image"
engine = "tests.fakes:ScriptedImageEngine"
[models.options]
default_size = "64x64"
default_steps = 2
"""
)
USER = [{"role": "user", "content": "hi"}]
# What Python makes of ModelScope's printed image example: the triple-quoted LoRA note between "model"
# and "prompt" is joined to the "prompt" key.
LORA_NOTE = """
        LoRA(s) Configuration:
        - for Single LoRA:
        "loras": "<lora-repo-id>"
        - Upto 6 LoRAs, all weight-coeffients must sum to 1.0
        """


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    models = tmp_path / "models.toml"
    models.write_text(MODELS)
    settings = Settings(data_dir=tmp_path / "data", models_file=models)
    app = create_app(settings, catalog=load_catalog(settings.models_file))
    async with asgi_client(app) as (client, services):
        await services.engines.wait_ready()
        yield Harness(client, services, await add_user_with_token(services, "alice"))


def openai_error(body: dict[str, Any]) -> dict[str, Any]:
    assert set(body) == {"error", "request_id"} and set(body["error"]) == {"message", "type", "param", "code"}
    error: dict[str, Any] = body["error"]
    return error


def anthropic_error(body: dict[str, Any]) -> dict[str, Any]:
    assert body["type"] == "error" and set(body["error"]) == {"type", "message"}
    error: dict[str, Any] = body["error"]
    return error


async def test_a_string_literal_joined_to_the_prompt_key(harness: Harness) -> None:
    body = {"model": "test/painter", LORA_NOTE + "prompt": "A golden cat"}
    response = await harness.client.post("/v1/images/generations", json=body, headers=harness.auth)
    assert response.status_code == 400
    error = openai_error(response.json())
    assert (error["param"], error["code"]) == ("prompt", "joined_string_literal")
    message = error["message"]
    found = '"prompt" is missing, but the body has a key that ends with it: "\\n        LoRA(s)'
    assert message.startswith(found)
    assert message.count("…") == 1 and '\\n        prompt". ' in message  # the long key, cut in its middle
    assert 'A string literal written just before "prompt"' in message and "# comments" in message
    assert (await harness.client.get("/v1/usage", headers=harness.auth)).json()["used"] == 0


async def test_joined_keys_in_chat_messages_in_both_dialects(harness: Harness) -> None:
    joined = {"\n    a note\n    role": "user", "content": "hi"}
    chat = await harness.chat({"model": "test/scripted", "messages": [joined]})
    assert chat.status_code == 400
    error = openai_error(chat.json())
    assert (error["param"], error["code"]) == ("messages.0.role", "joined_string_literal")
    assert error["message"].startswith('"role" is missing, but the body has a key that ends with it: ')
    message = {"model": "test/scripted", "max_tokens": 16, "messages": [joined]}
    anthropic = await harness.client.post("/v1/messages", json=message, headers=harness.auth)
    assert anthropic.status_code == 400
    assert '"\\n    a note\\n    role"' in anthropic_error(anthropic.json())["message"]


async def test_other_missing_fields_keep_the_plain_message(harness: Harness) -> None:
    # A key that merely ends with the name, or holds it without a newline before it, is no joined literal.
    for key in ("my_prompt", "note prompt"):
        body = {"model": "test/painter", key: "A golden cat"}
        response = await harness.client.post("/v1/images/generations", json=body, headers=harness.auth)
        assert openai_error(response.json())["message"] == "prompt: Field required"


@pytest.mark.parametrize(
    ("method", "path", "meant"),
    [
        ("POST", "/chat/completions", "/v1/chat/completions"),
        ("GET", "/models", "/v1/models"),
        ("POST", "/embeddings", "/v1/embeddings"),
        ("POST", "/images/generations", "/v1/images/generations"),
        ("GET", "/tasks/abc", "/v1/tasks/abc"),
    ],
)
async def test_a_base_url_without_v1(harness: Harness, method: str, path: str, meant: str) -> None:
    response = await harness.client.request(method, path, headers=harness.auth, json={})
    assert response.status_code == 404
    error = openai_error(response.json())
    assert error["code"] == "base_url_missing_v1"
    assert "Add /v1 to the base URL: use http://testserver/v1" in error["message"]
    assert f"which sends {meant}" in error["message"]


async def test_the_anthropic_base_url_with_v1(harness: Harness) -> None:
    body = {"model": "test/scripted", "max_tokens": 16, "messages": USER}
    response = await harness.client.post("/v1/v1/messages", json=body, headers=harness.auth)
    assert response.status_code == 404
    error = anthropic_error(response.json())  # the Anthropic shape, as the Anthropic SDK expects
    assert error["type"] == "not_found_error"
    assert "/v1 twice" in error["message"] and "Drop /v1 from the base URL" in error["message"]
    assert "the Anthropic SDK's base_url is http://testserver" in error["message"]
    doubled = await harness.client.post("/v1/v1/images/generations", json={}, headers=harness.auth)
    assert openai_error(doubled.json())["code"] == "base_url_doubled_v1"


async def test_unknown_paths_stay_plain_404s(harness: Harness) -> None:
    for path in ("/nothing/here", "/v1/nothing", "/v1/v1/nothing"):
        response = await harness.client.get(path)
        assert response.status_code == 404
        assert openai_error(response.json())["code"] is None


MODELSCOPE = "A ModelScope access token (from modelscope.cn) does not work on this server."


@pytest.mark.parametrize(
    ("token", "says"),
    [
        ("ms-2f6e3b7a-1c4d-4e8f-9a0b-3c5d7e9f1a2b", MODELSCOPE),  # shaped like ours (and ModelScope's)
        ("ms-6b1f0d3e9c2a", MODELSCOPE),
        ("MODELSCOPE_ACCESS_TOKEN", "is a placeholder from an example"),
        ("<MODELSCOPE_SDK_TOKEN>", "is a placeholder from an example"),
        ("sk-proj-0123456789abcdef", "This is not an OpenMaaS access token"),
        ("Bearer ms-2f6e3b7a-1c4d-4e8f-9a0b-3c5d7e9f1a2b", "give the SDK the token alone"),
    ],
)
async def test_tokens_that_are_not_this_servers(harness: Harness, token: str, says: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    response = await harness.client.post(
        "/v1/chat/completions", json={"model": "test/scripted", "messages": USER}, headers=headers
    )
    assert response.status_code == 401
    error = openai_error(response.json())
    assert error["code"] == "invalid_api_key" and says in error["message"]
    assert "`openmaas tokens create NAME`" in error["message"]
    assert token.removeprefix("Bearer ") not in error["message"]  # never echoed
    anthropic = await harness.client.post(
        "/v1/messages", json={"model": "test/scripted", "max_tokens": 8, "messages": USER}, headers=headers
    )
    assert anthropic.status_code == 401 and says in anthropic_error(anthropic.json())["message"]


async def test_a_model_called_at_the_wrong_endpoint(harness: Harness) -> None:
    chat = await harness.chat({"model": "test/painter", "messages": USER})
    assert chat.status_code == 400
    error = openai_error(chat.json())
    assert (error["param"], error["code"]) == ("model", "wrong_model_task")
    assert error["message"].startswith("The model 'test/painter' is an image model, not a chat model")
    assert "POST /v1/images/generations" in error["message"]
    message = {"model": "test/painter", "max_tokens": 8, "messages": USER}
    anthropic = await harness.client.post("/v1/messages", json=message, headers=harness.auth)
    assert "POST /v1/images/generations" in anthropic_error(anthropic.json())["message"]
    picture = {"model": "test/scripted", "prompt": "a cat"}
    image = await harness.client.post("/v1/images/generations", json=picture, headers=harness.auth)
    assert "is a chat model, not an image model: call it with POST /v1/chat/completions" in json.dumps(
        openai_error(image.json())
    )


async def test_a_body_that_is_not_read_as_json(harness: Harness) -> None:
    body = b'{"model": "test/scripted", "messages": [{"role": "user", "content": "hi"}]}'
    form = {**harness.auth, "Content-Type": "application/x-www-form-urlencoded"}  # what curl -d sends
    response = await harness.client.post("/v1/chat/completions", content=body, headers=form)
    assert response.status_code == 400
    error = openai_error(response.json())
    assert error["code"] == "body_not_json" and "Content-Type: application/json" in error["message"]
    listed = await harness.client.post("/v1/chat/completions", json=["hi"], headers=harness.auth)
    assert openai_error(listed.json())["code"] == "body_not_object"


async def test_a_route_called_with_the_wrong_method(harness: Harness) -> None:
    response = await harness.client.get("/v1/chat/completions", headers=harness.auth)  # a browser's visit
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    error = openai_error(response.json())
    assert error["code"] == "method_not_allowed"
    assert error["message"] == (
        "/v1/chat/completions takes POST, not GET (a browser's address bar sends GET: call it with an SDK or "
        "curl)."
    )
    deleted = await harness.client.delete("/v1/models", headers=harness.auth)
    assert openai_error(deleted.json())["message"] == "/v1/models takes GET, not DELETE."
