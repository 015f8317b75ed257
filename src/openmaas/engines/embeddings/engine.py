"""`SentenceTransformersEngine`: sentence-embedding models on CPU or one GPU, with dynamic batching.

`start()` resolves the weights, reads the sentence-transformers layout (`layout.py`), loads the model
(`encoder.py`) and warms it up, all in a worker thread, then starts the batcher (`batcher.py`).
`embed()` tokenizes the request in the tokenizer thread, refuses inputs the model cannot take
(`InvalidRequest` naming the index), hands the token ids to the batcher — sorted by length, so a
request's inputs share batches with inputs of like length and little padding — and puts the vectors
back in request order, truncated and re-normalised when `dimensions` asks for fewer.

This module imports no torch; `start()` does (through `encoder.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from openmaas.domain.embeddings import EmbeddingInput, EmbeddingRequest, EmbeddingResult
from openmaas.domain.errors import InvalidRequest, ModelNotReady
from openmaas.domain.models import ModelSpec
from openmaas.engines.base import EmbeddingEngine, EngineContext, EngineStats
from openmaas.engines.embeddings.batcher import DynamicBatcher
from openmaas.engines.embeddings.options import EmbeddingOptions

if TYPE_CHECKING:
    from openmaas.engines.embeddings.encoder import SentenceEncoder

Vector = NDArray[np.float32]


class SentenceTransformersEngine(EmbeddingEngine):
    def __init__(self, spec: ModelSpec, context: EngineContext) -> None:
        super().__init__(spec, context)
        self.options = EmbeddingOptions.parse(spec.id, "sentence-transformers", spec.options)
        self._encoder: SentenceEncoder | None = None
        self._batcher: DynamicBatcher[Vector] | None = None
        self._tokenizer_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed-tokenize")

    async def start(self) -> None:
        encoder = await asyncio.to_thread(self._load)
        batcher: DynamicBatcher[Vector] = DynamicBatcher(
            encoder.encode,
            max_batch_size=self.options.max_batch_size,
            max_batch_tokens=self.options.max_batch_tokens,
            max_wait=self.options.batch_wait_ms / 1000,
            max_queued=self.options.max_queue,
            name=self.spec.id,
        )
        batcher.start()
        self._encoder, self._batcher = encoder, batcher

    def _load(self) -> SentenceEncoder:
        from openmaas.engines.embeddings.encoder import load_encoder
        from openmaas.engines.embeddings.layout import read_layout

        layout = read_layout(self.context.resolve_weights(self.spec), self.options)
        encoder = load_encoder(layout, self.options, self.spec.context_length)
        encoder.encode(encoder.tokenize(["warm-up"]))  # the first pass is slow; keep it off a request
        return encoder

    async def close(self) -> None:
        batcher, self._batcher = self._batcher, None
        if batcher is not None:
            await batcher.close()
        self._tokenizer_thread.shutdown(wait=False, cancel_futures=True)
        self._encoder = None

    # ---- what the service reads -----------------------------------------------------------------

    @property
    def dimension(self) -> int:
        return self._ready()[0].dimension

    @property
    def max_input_tokens(self) -> int:
        return self._ready()[0].max_input_tokens

    @property
    def supports_dimensions(self) -> bool:
        return self.options.matryoshka

    def stats(self) -> EngineStats:
        batcher = self._batcher
        if batcher is None:
            return EngineStats()
        return EngineStats(
            queued=batcher.queued,
            running=batcher.running,
            batches=batcher.batches,
            batched_requests=batcher.batched_requests,
        )

    # ---- embedding ------------------------------------------------------------------------------

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        encoder, batcher = self._ready()
        loop = asyncio.get_running_loop()
        tokens = await loop.run_in_executor(self._tokenizer_thread, encoder.tokenize, request.inputs)
        self._check(encoder, request.inputs, tokens)
        order = sorted(range(len(tokens)), key=lambda index: len(tokens[index]))
        rows = await batcher.submit([tokens[index] for index in order])
        vectors = np.empty((len(tokens), encoder.dimension), dtype=np.float32)
        vectors[order] = np.stack(rows)
        if request.dimensions is not None and request.dimensions < encoder.dimension:
            vectors = truncated(vectors, request.dimensions, renormalise=encoder.layout.normalize)
        return EmbeddingResult(vectors=vectors, prompt_tokens=sum(len(ids) for ids in tokens))

    def _check(
        self, encoder: SentenceEncoder, inputs: Sequence[EmbeddingInput], tokens: Sequence[Sequence[int]]
    ) -> None:
        limit = encoder.max_input_tokens
        for index, (given, ids) in enumerate(zip(inputs, tokens, strict=True)):
            if len(ids) > limit:
                raise InvalidRequest(
                    f"input[{index}] is {len(ids)} tokens long; the model {self.spec.id!r} takes at most "
                    f"{limit} tokens per input. Split or shorten it.",
                    param="input",
                    code="context_length_exceeded",
                )
            if not isinstance(given, str):
                unknown = next((token for token in given if token >= encoder.vocab_size), None)
                if unknown is not None:
                    raise InvalidRequest(
                        f"input[{index}] holds the token id {unknown}, outside the vocabulary of the model "
                        f"{self.spec.id!r} (0 to {encoder.vocab_size - 1}).",
                        param="input",
                    )

    def _ready(self) -> tuple[SentenceEncoder, DynamicBatcher[Vector]]:
        if self._encoder is None or self._batcher is None:
            raise ModelNotReady(self.spec.id)
        return self._encoder, self._batcher


def truncated(vectors: Vector, dimensions: int, *, renormalise: bool) -> Vector:
    """Matryoshka: keep the first `dimensions` of each vector, re-normalised if the model normalises."""
    kept = vectors[:, :dimensions]
    if renormalise:
        kept = kept / np.clip(np.linalg.norm(kept, axis=1, keepdims=True), 1e-12, None)
    return np.ascontiguousarray(kept, dtype=np.float32)
