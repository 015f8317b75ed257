"""`POST /v1/embeddings` with the real `openai` SDK against a real `openmaas serve` process running the
real default embedding model (all-MiniLM-L6-v2 from its wheel), plus two variants of it: one that allows
`dimensions` and one whose batch can only close by filling up (to see batching through HTTP)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from openai import OpenAI
from pydantic import SecretStr

from openmaas.catalog import builtin_catalog
from tests.servers import ServerProcess, cli, server_process

pytestmark = pytest.mark.real_model

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
MATRYOSHKA = "test/minilm-matryoshka"
BATCHED = "test/minilm-batched"
HELLO_WORLD_IDS = [7592, 2088]  # what its tokenizer makes of "hello world", without [CLS] and [SEP]


def registry() -> str:
    spec = builtin_catalog().get(MODEL)
    assert spec is not None and spec.task == "embedding"
    same = f'task = "embedding"\nengine = "{spec.engine}"\nweights = "{spec.weights}"\n'
    return f"""
include_builtin = false

[[models]]
id = "{spec.id}"
{same}context_length = {spec.context_length}

[[models]]
id = "{MATRYOSHKA}"
{same}[models.options]
matryoshka = true

[[models]]
id = "{BATCHED}"
{same}[models.options]
max_batch_size = 8
batch_wait_ms = 60000

[[models]]
id = "test/scripted"
task = "chat"
engine = "tests.fakes:ScriptedChatEngine"
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("embeddings")
    models = root / "models.toml"
    models.write_text(registry())
    with server_process(root / "data", models) as running:
        yield running


def token_for(server: ServerProcess, user: str, *flags: str, model: str | None = None) -> str:
    cli(server.data_dir, "users", "add", user, *flags)
    restrict = ("--model", model) if model else ()
    return cli(
        server.data_dir, "tokens", "create", user, *restrict, models_file=server.models_file
    ).stdout.strip()


@pytest.fixture(scope="module")
def token(server: ServerProcess) -> str:
    return token_for(server, "embedder")


@pytest.fixture(scope="module")
def client(server: ServerProcess, token: str) -> OpenAI:
    return OpenAI(base_url=f"{server.base_url}/v1", api_key=token, max_retries=0)


def post(server: ServerProcess, token: str, body: dict[str, Any]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.post(f"{server.base_url}/v1/embeddings", json=body, headers=headers, timeout=60)


def metric(server: ServerProcess, name: str, **labels: str) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in httpx.get(f"{server.base_url}/metrics").text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and ",".join(sorted(match.group(1).split(","))) == wanted:
            return float(match.group(2))
    return 0.0


def test_float_vectors_shapes_and_usage(client: OpenAI) -> None:
    response = client.embeddings.create(
        model=MODEL, input=["hello world", "a second text"], encoding_format="float"
    )
    assert response.object == "list" and response.model == MODEL
    assert [item.index for item in response.data] == [0, 1]
    assert all(item.object == "embedding" and len(item.embedding) == 384 for item in response.data)
    assert abs(float(np.linalg.norm(response.data[0].embedding)) - 1) < 1e-5
    assert response.usage.prompt_tokens == response.usage.total_tokens == 4 + 5  # with [CLS] and [SEP]


def test_raw_body_and_quota_headers(server: ServerProcess, token: str) -> None:
    response = post(server, token, {"model": MODEL, "input": "hello world"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"object", "data", "model", "usage"}
    assert set(body["data"][0]) == {"object", "index", "embedding"}
    assert body["usage"] == {"prompt_tokens": 4, "total_tokens": 4}
    assert int(response.headers["modelscope-ratelimit-requests-remaining"]) < 2000
    assert "x-ratelimit-remaining-requests" in response.headers


def test_base64_is_little_endian_float32_and_the_sdk_decodes_it(
    server: ServerProcess, token: str, client: OpenAI
) -> None:
    floats = post(server, token, {"model": MODEL, "input": "hello world"}).json()["data"][0]["embedding"]
    raw = post(server, token, {"model": MODEL, "input": "hello world", "encoding_format": "base64"})
    encoded = raw.json()["data"][0]["embedding"]
    assert isinstance(encoded, str)
    decoded = np.frombuffer(base64.b64decode(encoded), dtype="<f4")
    np.testing.assert_array_equal(decoded, np.asarray(floats, dtype=np.float32))
    by_sdk = client.embeddings.create(model=MODEL, input="hello world")  # the SDK asks for base64
    np.testing.assert_array_equal(np.asarray(by_sdk.data[0].embedding, dtype=np.float32), decoded)


def test_every_input_form(client: OpenAI) -> None:
    text = client.embeddings.create(model=MODEL, input="hello world").data
    ids = client.embeddings.create(model=MODEL, input=HELLO_WORLD_IDS).data
    id_lists = client.embeddings.create(model=MODEL, input=[HELLO_WORLD_IDS, [7592]]).data
    texts = client.embeddings.create(model=MODEL, input=["hello world", "hello"]).data
    assert (len(text), len(ids), len(id_lists), len(texts)) == (1, 1, 2, 2)
    np.testing.assert_allclose(ids[0].embedding, text[0].embedding, atol=1e-6)
    np.testing.assert_allclose(id_lists[1].embedding, texts[1].embedding, atol=1e-6)


def test_paraphrases_are_closer_than_unrelated_sentences(client: OpenAI) -> None:
    texts = [
        "How do I reset my password?",
        "I forgot my password; how can I change it?",
        "Bake for 40 minutes.",
    ]
    vectors = np.asarray([item.embedding for item in client.embeddings.create(model=MODEL, input=texts).data])
    similarity = vectors @ vectors.T  # unit vectors: cosine
    assert similarity[0, 1] > 0.6 > similarity[0, 2] + 0.3


def test_dimensions(client: OpenAI) -> None:
    short = client.embeddings.create(model=MATRYOSHKA, input="hello world", dimensions=64).data[0].embedding
    assert len(short) == 64 and abs(float(np.linalg.norm(short)) - 1) < 1e-5
    full = client.embeddings.create(model=MATRYOSHKA, input="hello world").data[0].embedding
    head = np.asarray(full[:64])
    np.testing.assert_allclose(short, head / np.linalg.norm(head), atol=1e-6)
    assert len(client.embeddings.create(model=MODEL, input="x", dimensions=384).data[0].embedding) == 384
    for model, dimensions, message in [
        (MODEL, 64, "does not support `dimensions`"),
        (MATRYOSHKA, 385, "at most 384"),
        (MATRYOSHKA, 0, "greater than or equal to 1"),
    ]:
        with pytest.raises(openai.BadRequestError, match=message) as refused:
            client.embeddings.create(model=model, input="x", dimensions=dimensions)
        assert refused.value.param == "dimensions"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", r"input\[0\] is an empty string"),
        ([], "input is an empty list"),
        (["fine", ""], r"input\[1\] is an empty string"),
        ([[]], r"input\[0\] is an empty list of token ids"),
        ([5, -1], "negative token id"),
        ([["nested"]], r"input\[0\]: input must be a string"),
        ({"text": "x"}, "input must be a string"),
        (None, "input must be a string"),
        (["x"] * 2049, "2049 items; at most 2048"),
        (["fine", "word " * 300], r"input\[1\] is 30\d tokens long.*at most 256"),
        ([[101, 40000]], r"input\[0\] holds the token id 40000"),
    ],
)
def test_bad_input_is_a_400_naming_it(server: ServerProcess, token: str, value: Any, message: str) -> None:
    response = post(server, token, {"model": MODEL, "input": value})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == "input"
    assert re.search(message, error["message"]), error["message"]


def test_other_refusals(server: ServerProcess, token: str, client: OpenAI) -> None:
    assert post(server, token, {"model": MODEL}).json()["error"]["param"] == "input"
    bad_format = post(server, token, {"model": MODEL, "input": "x", "encoding_format": "int8"})
    assert bad_format.status_code == 400 and bad_format.json()["error"]["param"] == "encoding_format"
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="no/such-model", input="x")
    with pytest.raises(openai.BadRequestError, match="is a chat model, not an embedding model"):
        client.embeddings.create(model="test/scripted", input="x")
    restricted = OpenAI(
        base_url=f"{server.base_url}/v1", api_key=token_for(server, "scoped", model=MATRYOSHKA), max_retries=0
    )
    with pytest.raises(openai.PermissionDeniedError):
        restricted.embeddings.create(model=MODEL, input="x")
    assert len(restricted.embeddings.create(model=MATRYOSHKA, input="x").data) == 1
    with pytest.raises(openai.AuthenticationError):
        OpenAI(base_url=f"{server.base_url}/v1", api_key="ms-nope", max_retries=0).embeddings.create(
            model=MODEL, input="x"
        )


def test_calls_count_against_the_quota_and_refused_ones_do_not(server: ServerProcess) -> None:
    token = token_for(server, "quota-embedder", "--daily-limit", "2")
    first = post(server, token, {"model": MODEL, "input": "one"})
    assert first.headers["modelscope-ratelimit-requests-remaining"] == "1"
    assert post(server, token, {"model": MODEL, "input": ""}).status_code == 400
    assert post(server, token, {"model": MODEL, "input": "word " * 300}).status_code == 400  # refunded
    assert post(server, token, {"model": MODEL, "input": "x", "dimensions": 3}).status_code == 400
    second = post(server, token, {"model": MODEL, "input": "two"})
    assert second.status_code == 200 and second.headers["modelscope-ratelimit-requests-remaining"] == "0"
    refused = post(server, token, {"model": MODEL, "input": "three"})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert refused.json()["error"]["type"] == "rate_limit_error"


def test_tokens_in_are_counted_in_the_metrics(server: ServerProcess, client: OpenAI) -> None:
    before = metric(server, "openmaas_tokens_total", model=MODEL, direction="in")
    usage = client.embeddings.create(model=MODEL, input=["count these tokens", "and these"]).usage
    after = metric(server, "openmaas_tokens_total", model=MODEL, direction="in")
    assert after - before == usage.prompt_tokens > 0


def test_concurrent_requests_are_batched(server: ServerProcess, client: OpenAI) -> None:
    # The model's batch closes only when 8 inputs fill it (its window is a minute): 8 requests sent at
    # once come back only because they were encoded together.
    texts = [f"request number {i}" for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda t: client.embeddings.create(model=BATCHED, input=t), texts))
    assert all(len(r.data[0].embedding) == 384 for r in results)
    assert metric(server, "openmaas_engine_batches_total", model=BATCHED) == 1
    assert metric(server, "openmaas_engine_batched_requests_total", model=BATCHED) == 8
    alone = client.embeddings.create(model=MODEL, input=texts[3]).data[0].embedding
    np.testing.assert_allclose(results[3].data[0].embedding, alone, atol=1e-5)


def test_models_list_shows_the_embedding_model(client: OpenAI) -> None:
    entry = client.models.retrieve(MODEL).model_dump()
    assert entry["task"] == "embedding" and entry["context_length"] == 256


def test_langchain_embeddings_on_the_real_model(server: ServerProcess, token: str, client: OpenAI) -> None:
    from openmaas.integrations.langchain import ModelScopeEmbeddings

    embeddings = ModelScopeEmbeddings(
        model=MODEL, base_url=f"{server.base_url}/v1", api_key=SecretStr(token), chunk_size=2
    )
    texts = ["hello world", "a second text", "and a third"]
    vectors = embeddings.embed_documents(texts)
    direct = client.embeddings.create(model=MODEL, input=texts).data
    np.testing.assert_allclose(vectors, [item.embedding for item in direct], atol=1e-6)
    np.testing.assert_allclose(embeddings.embed_query("hello world"), direct[0].embedding, atol=1e-6)
