"""`ModelScopeEmbeddings` against a small fake of `POST /v1/embeddings`, served on 127.0.0.1 by the test.

The real embeddings endpoint is built in another issue; this fake answers in OpenAI's shape (vectors
derived from each text's hash, so equal texts get equal vectors) and records what the client sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from openmaas.integrations.langchain import ModelScopeEmbeddings
from tests.servers import thread_server

TOKEN = "ms-embeddings-test"
DIMENSIONS = 8


def vector(text: str, dimensions: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [byte / 255 for byte in digest[:dimensions]]


class FakeEmbeddings:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/v1/embeddings", self.embeddings, methods=["POST"])])

    async def embeddings(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse({"error": {"message": "bad token", "type": "authentication_error"}}, 401)
        body = await request.json()
        self.requests.append(body)
        texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
        dimensions = body.get("dimensions", DIMENSIONS)
        data = [
            {"object": "embedding", "index": i, "embedding": vector(text, dimensions)}
            for i, text in enumerate(texts)
        ]
        tokens = sum(len(str(t).split()) for t in texts)
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[FakeEmbeddings, str]]:
    service = FakeEmbeddings()
    with thread_server(service.app) as url:
        yield service, f"{url}/v1"


def test_embed_documents_and_query(fake: tuple[FakeEmbeddings, str], monkeypatch: pytest.MonkeyPatch) -> None:
    service, base_url = fake
    monkeypatch.setenv("OPENMAAS_BASE_URL", base_url)
    monkeypatch.setenv("MODELSCOPE_SDK_TOKEN", TOKEN)
    embeddings = ModelScopeEmbeddings(model="test/embedder", chunk_size=2)
    texts = ["first text", "second text", "third text"]
    assert embeddings.embed_documents(texts) == [vector(t, DIMENSIONS) for t in texts]
    # The texts themselves went over the wire (not tiktoken ids), two per request, as floats.
    assert [r["input"] for r in service.requests[-2:]] == [texts[:2], texts[2:]]
    assert {r["encoding_format"] for r in service.requests[-2:]} == {"float"}
    assert embeddings.embed_query("first text") == vector("first text", DIMENSIONS)


async def test_async_and_dimensions(fake: tuple[FakeEmbeddings, str]) -> None:
    service, base_url = fake
    embeddings = ModelScopeEmbeddings(
        model_id="test/embedder", base_url=base_url, api_key=TOKEN, dimensions=4
    )
    assert await embeddings.aembed_query("hello") == vector("hello", 4)
    assert service.requests[-1]["dimensions"] == 4 and service.requests[-1]["model"] == "test/embedder"
    assert await embeddings.aembed_documents(["a", "b"]) == [vector("a", 4), vector("b", 4)]
