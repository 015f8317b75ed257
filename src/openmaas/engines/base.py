"""The small interfaces every model engine implements, one per modality.

An engine is created by a factory from a `ModelSpec` and an `EngineContext`, loaded once with
`start()`, and then serves many concurrent requests. Heavy libraries (torch, transformers, diffusers,
vLLM) are imported only inside the engine modules that need them, never at package import.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from openmaas.domain.chat import ChatEvent, ChatRequest
from openmaas.domain.embeddings import EmbeddingRequest, EmbeddingResult
from openmaas.domain.generation import GenerationDefaults
from openmaas.domain.images import ImageJob, ProgressCallback
from openmaas.domain.models import ModelSpec


@dataclass(frozen=True, slots=True)
class EngineContext:
    """What the server gives an engine besides its spec.

    `cache_dir` is a folder reserved for this model inside the data dir (converted weights, downloads).
    `resolve_weights` turns the spec's weights location into a local path (see `openmaas.weights`).
    """

    cache_dir: Path
    resolve_weights: Callable[[ModelSpec], Path]


@dataclass(frozen=True, slots=True)
class EngineStats:
    queued: int = 0
    running: int = 0
    #: Batches run so far, and the requests they served (a request counts once per batch it is in):
    #: their ratio is how many requests share a batch on average. Zero for engines that do not batch.
    batches: int = 0
    batched_requests: int = 0
    #: Tokens generated since the engine started, for engines that count them (None otherwise).
    generated_tokens: int | None = None


class Engine(abc.ABC):
    """A loaded model serving requests."""

    #: Capabilities this engine can offer (`tools`, `reasoning`, `vision`, ...). The registry entry may
    #: declare a subset; `/v1/models` shows what the entry declares.
    capabilities: ClassVar[frozenset[str]] = frozenset()
    #: Top-level Python modules `start()` imports that importing the engine's own module does not (a
    #: library imported late, in a virtualenv of its own): `openmaas doctor` checks they are installed.
    requires: ClassVar[tuple[str, ...]] = ()

    def __init__(self, spec: ModelSpec, context: EngineContext) -> None:
        self.spec = spec
        self.context = context

    @classmethod
    def reads_weights(cls, spec: ModelSpec) -> bool:
        """Whether `start()` reads the spec's weights through `resolve_weights` (`openmaas doctor` checks
        they can be found). Engines that serve models from elsewhere, or build their own, say no."""
        return True

    @abc.abstractmethod
    async def start(self) -> None:
        """Load weights and get ready to serve. May take long; must not block the event loop."""

    async def close(self) -> None:  # noqa: B027 - engines without resources need no clean-up
        """Release the model and any worker threads or processes."""

    def stats(self) -> EngineStats:
        return EngineStats()

    def check_available(self) -> None:  # noqa: B027 - a loaded engine takes calls unless it says not
        """Raise `Overloaded` (503) while the loaded engine cannot take a new call (an engine standing for
        models that other machines serve, while none of them does)."""


class ChatEngine(Engine):
    #: True if the engine constrains its sampling with `request.grammar` (structured output, forced tool
    #: calls); engines that pass `response_format` and `tool_choice` on to an upstream leave it False.
    applies_grammars: ClassVar[bool] = False

    @abc.abstractmethod
    def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        """Generate an answer as a stream of events (see `openmaas.domain.chat`).

        Closing the iterator early (a client went away) must stop the generation at once and free
        its slot. Input the model cannot take (too long for its context, say) raises `InvalidRequest`.
        """

    @abc.abstractmethod
    def count_tokens(self, request: ChatRequest) -> int:
        """How many prompt tokens the request renders to with this model's chat template."""

    @property
    def model_defaults(self) -> GenerationDefaults:
        """The generation defaults the model's own files recommend (its `generation_config.json`), once
        started; the chat service puts the registry's over them (see `openmaas.domain.generation`)."""
        return GenerationDefaults()


class EmbeddingEngine(Engine):
    """Turns texts (or token-id sequences) into vectors, batching concurrent requests together.

    The three properties are valid once `start()` returned. A registry entry sets them through the
    engine's options where the model itself does not say (see the engine's documentation).
    """

    @property
    @abc.abstractmethod
    def dimension(self) -> int:
        """The length of the model's vectors."""

    @property
    @abc.abstractmethod
    def max_input_tokens(self) -> int:
        """The most tokens one input may have, special tokens included."""

    @property
    @abc.abstractmethod
    def supports_dimensions(self) -> bool:
        """Whether `dimensions` below `dimension` is allowed (Matryoshka: truncate, re-normalise)."""

    @abc.abstractmethod
    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        """Embed every input of the request (the service has checked `dimensions`).

        An input the model cannot take (too many tokens, unknown token ids) raises `InvalidRequest`
        naming its index; a full queue raises `Overloaded`.
        """


class ImageEngine(Engine):
    @abc.abstractmethod
    async def generate(self, job: ImageJob, progress: ProgressCallback) -> list[bytes]:
        """Generate `job.n` images; PNG bytes, in order. Same job, same bytes.

        The work runs off the event loop (in a worker thread). `progress(done, total)` is called after
        each denoising step; when it raises `JobCancelled` the engine stops and lets it propagate.
        """


EngineFactory = Callable[[ModelSpec, EngineContext], Engine]
