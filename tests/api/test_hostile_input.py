"""Hostile input is a 4xx in the route's own shape, never a 500, and a refused call is not counted.

Each case here once reached a 500 ("unhandled error"): text that is not proper Unicode (a lone
surrogate), numbers no 64-bit type holds, JSON nested hundreds deep, non-ASCII or 5000-digit numbers in
query strings. The chat model is the tiny random-weight model on the real transformers engine, so the
request goes where a real one would (chat template, tool rendering, grammar compilation).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from openmaas.app import create_app
from openmaas.catalog import load_catalog
from openmaas.services.container import Services
from openmaas.settings import Settings
from tests.api.test_errors import assert_openai_error
from tests.servers import add_user_with_token, asgi_client
from tests.tiny_models import build_tiny_chat_model

CHAT = "test/tiny"
MODELS = """
include_builtin = false

[[models]]
id = "test/tiny"
task = "chat"
engine = "transformers"
weights = "{tiny}"
tool_parser = "hermes"
context_length = 512
[models.options]
dtype = "float32"

[[models]]
id = "test/embedder"
task = "embedding"
engine = "tests.fakes:ScriptedEmbeddingEngine"

[[models]]
id = "test/painter"
task = "image"
engine = "tests.fakes:ScriptedImageEngine"
[models.options]
default_size = "64x64"
default_steps = 2
"""
LONE_SURROGATE = "\ud800"
HUGE = 2**64


class Client:
    def __init__(self, http: httpx.AsyncClient, services: Services, token: str) -> None:
        self.http = http
        self.services = services
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def post(self, path: str, body: Any) -> httpx.Response:
        # json.dumps escapes a lone surrogate as `\\ud800`, as a hostile client would send it.
        return await self.http.post(path, content=json.dumps(body).encode(), headers=self.headers)

    async def used(self) -> int:
        user = await self.services.store.get_user("mallory")
        assert user is not None
        total, _ = await self.services.counter.used(user.id, self.services.quota_day.today())
        return total


@pytest.fixture(scope="module")
async def client(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    root = tmp_path_factory.mktemp("hostile")
    tiny = build_tiny_chat_model(root / "tiny")
    models_file = root / "models.toml"
    models_file.write_text(MODELS.format(tiny=tiny))
    settings = Settings(data_dir=root / "data", models_file=models_file)
    app = create_app(settings, catalog=load_catalog(models_file))
    async with asgi_client(app) as (http, services):
        await services.engines.wait_ready()
        token = await add_user_with_token(services, "mallory")
        yield Client(http, services, token)


def assert_anthropic_error(response: httpx.Response, status: int = 400) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error" and body["request_id"].startswith("req-")
    assert body["error"]["type"] == "invalid_request_error" and body["error"]["message"]


def deep(levels: int, leaf: Any) -> Any:
    for _ in range(levels):
        leaf = {"type": "object", "properties": {"a": leaf}}
    return leaf


def nested_lists(levels: int) -> Any:
    value: Any = []
    for _ in range(levels):
        value = [value]
    return value


USER = [{"role": "user", "content": "hi"}]


def said(text: Any, role: str = "user") -> list[dict[str, Any]]:
    return [{"role": role, "content": text}]


def tool_turns(tool_input: dict[str, Any]) -> list[dict[str, Any]]:
    """A user turn, the assistant calling a tool with `tool_input`, and the tool's result (Anthropic)."""
    call = {"type": "tool_use", "id": "t1", "name": "f", "input": tool_input}
    result = {"type": "tool_result", "tool_use_id": "t1", "content": "ok"}
    return [*USER, *said([call], "assistant"), *said([result])]


OPENAI_CASES: list[tuple[str, dict[str, Any]]] = [
    (
        "lone surrogate in a chat message",
        {"model": CHAT, "messages": [{"role": "user", "content": "a\ud800"}]},
    ),
    (
        "lone surrogate in a system part",
        {
            "model": CHAT,
            "messages": [{"role": "system", "content": [{"type": "text", "text": "\udfff"}]}, *USER],
        },
    ),
    (
        "json_schema with an integer of 2^64",
        {
            "model": CHAT,
            "messages": USER,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "n", "schema": {"type": "integer", "maximum": HUGE}},
            },
        },
    ),
    (
        "json_schema nested 300 deep",
        {
            "model": CHAT,
            "messages": USER,
            "response_format": {"type": "json_schema", "json_schema": {"name": "d", "schema": deep(300, {})}},
        },
    ),
    (
        "tool parameters nested 900 deep",
        {
            "model": CHAT,
            "messages": USER,
            "tools": [{"type": "function", "function": {"name": "f", "parameters": deep(450, {})}}],
        },
    ),
    ("an unknown field nested deep", {"model": CHAT, "messages": USER, "metadata": nested_lists(500)}),
    ("seed beyond 64 bits", {"model": CHAT, "messages": USER, "seed": 2**70}),
    ("a negative integer beyond 64 bits", {"model": CHAT, "messages": USER, "user": -(2**64)}),
]


@pytest.mark.parametrize(("case", "body"), OPENAI_CASES, ids=[case for case, _ in OPENAI_CASES])
async def test_chat_completions(client: Client, case: str, body: dict[str, Any]) -> None:
    for stream in (False, True):
        response = await client.post("/v1/chat/completions", {**body, "stream": stream})
        assert response.status_code == 400, f"{case}: {response.text}"
        assert_openai_error(response.json(), "invalid_request_error")
    assert await client.used() == 0


async def test_numbers_that_are_not_json(client: Client) -> None:
    for raw in (b"1e999", b"NaN", b"-Infinity"):
        body = (
            b'{"model": "test/tiny", "messages": [{"role": "user", "content": "hi"}], "temperature": %s}'
            % raw
        )
        response = await client.http.post("/v1/chat/completions", content=body, headers=client.headers)
        assert response.status_code == 400, response.text
        assert_openai_error(response.json(), "invalid_request_error")


async def test_error_message_says_what_is_wrong(client: Client) -> None:
    surrogate = await client.post(
        "/v1/chat/completions", {"model": CHAT, "messages": [{"role": "user", "content": "\ud800"}]}
    )
    assert "surrogate" in surrogate.json()["error"]["message"]
    too_deep = await client.post(
        "/v1/chat/completions", {"model": CHAT, "messages": USER, "x": nested_lists(100)}
    )
    assert "deeper than" in too_deep.json()["error"]["message"]
    huge = await client.post("/v1/chat/completions", {"model": CHAT, "messages": USER, "x": [1, HUGE]})
    assert "64-bit" in huge.json()["error"]["message"]


ANTHROPIC_CASES: list[tuple[str, dict[str, Any]]] = [
    ("lone surrogate in a message", {"messages": [{"role": "user", "content": LONE_SURROGATE}]}),
    ("lone surrogate in the system prompt", {"system": "be \udc00 kind", "messages": USER}),
    (
        "tool_use.input holding 2^64",
        {
            "messages": [
                *USER,
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"n": HUGE}}],
                },
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
            ]
        },
    ),
    (
        "tool_use.input holding a lone surrogate",
        {
            "messages": [
                *USER,
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"s": "\ud800"}}],
                },
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
            ]
        },
    ),
    (
        "tool input_schema nested 900 deep",
        {"messages": USER, "tools": [{"name": "f", "input_schema": deep(450, {})}]},
    ),
]


@pytest.mark.parametrize(("case", "body"), ANTHROPIC_CASES, ids=[case for case, _ in ANTHROPIC_CASES])
async def test_messages(client: Client, case: str, body: dict[str, Any]) -> None:
    for path, extra in (("/v1/messages", {"max_tokens": 8}), ("/v1/messages/count_tokens", {})):
        response = await client.post(path, {"model": CHAT, **body, **extra})
        assert_anthropic_error(response)
    assert await client.used() == 0


@pytest.mark.parametrize(
    "value",
    [LONE_SURROGATE, ["fine", "x\udbff"], [[1, 2, HUGE]], [1, -(2**64) - 1]],
    ids=["text", "list", "ids", "id"],
)
async def test_embeddings(client: Client, value: Any) -> None:
    response = await client.post("/v1/embeddings", {"model": "test/embedder", "input": value})
    assert response.status_code == 400, response.text
    assert_openai_error(response.json(), "invalid_request_error")
    assert await client.used() == 0


async def test_image_prompt_with_a_lone_surrogate_is_refused_at_submission(client: Client) -> None:
    for headers in ({}, {"X-ModelScope-Async-Mode": "true"}):
        response = await client.http.post(
            "/v1/images/generations",
            content=json.dumps({"model": "test/painter", "prompt": "a cat \ud800"}).encode(),
            headers={**client.headers, **headers},
        )
        assert response.status_code == 400, response.text
        assert_openai_error(response.json(), "invalid_request_error")
    assert await client.used() == 0
    listed = await client.http.get("/v1/tasks", headers=client.headers)
    assert listed.json()["data"] == []


@pytest.mark.parametrize(
    "query",
    [
        "expires=1&signature=%C3%A9",
        "expires=%C2%B2&signature=abc",
        "expires=%D9%A3&signature=abc",
        "expires=" + "9" * 5000 + "&signature=abc",
        "expires=1&signature=" + "%FF" * 10,
        "expires=-1&signature=00",
    ],
    ids=[
        "non-ascii signature",
        "superscript digit",
        "arabic digit",
        "5000 digits",
        "invalid utf-8",
        "negative",
    ],
)
async def test_signed_file_urls(client: Client, query: str) -> None:
    response = await client.http.get(f"/v1/files/outputs/x.png?{query}")
    assert response.status_code == 403, response.text
    assert_openai_error(response.json(), "permission_error")


@pytest.mark.parametrize("limit", ["9" * 5000, "%C2%B2", "%D9%A3", "1e3", "-1", ""])
async def test_task_listing_limit(client: Client, limit: str) -> None:
    response = await client.http.get(f"/v1/tasks?limit={limit}", headers=client.headers)
    assert response.status_code == 400, response.text
    assert_openai_error(response.json(), "invalid_request_error")
