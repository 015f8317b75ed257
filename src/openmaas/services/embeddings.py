"""The embeddings service: from an authenticated, parsed request to metered vectors.

`EmbeddingService.embed` passes the gate (404 unknown model, 400 not an embedding model, 403 token
scope), gets the engine (503 while loading), checks `dimensions` against it (400, before any quota is
used), reserves one call (429), and runs the engine. The call is settled with the tokens the model read,
or given back when the engine refuses the input (an input too long: 400) or fails (5xx). A call whose
client went away while it waited for its batch still counts, as a chat call cut short does.
"""

from __future__ import annotations

from dataclasses import dataclass

from openmaas.access.metering import Metering
from openmaas.domain.accounts import Caller
from openmaas.domain.chat import Usage
from openmaas.domain.embeddings import EmbeddingRequest, EmbeddingResult
from openmaas.domain.errors import InvalidRequest
from openmaas.domain.models import Task
from openmaas.engines.base import EmbeddingEngine
from openmaas.engines.manager import EngineManager
from openmaas.metrics import Metrics
from openmaas.services.gate import ModelGate, counts_as_answered

EMBEDDING_TASKS: tuple[Task, ...] = ("embedding",)


@dataclass(frozen=True, slots=True)
class Embedded:
    result: EmbeddingResult
    headers: dict[str, str]
    """The quota headers of the call."""


class EmbeddingService:
    def __init__(self, engines: EngineManager, metering: Metering, metrics: Metrics) -> None:
        self.engines = engines
        self.metrics = metrics
        self.gate = ModelGate(engines, metering, metrics)

    async def embed(self, caller: Caller, request: EmbeddingRequest) -> Embedded:
        spec = self.gate.spec(caller, request.model, tasks=EMBEDDING_TASKS, serves="an embedding model")
        engine = await self.engines.embedding_engine(spec.id)
        check_dimensions(spec.id, engine, request.dimensions)
        ticket = await self.gate.reserve(caller, spec)
        try:
            result = await engine.embed(request)
        except BaseException as exc:
            if counts_as_answered(exc):
                ticket.settle(Usage(0, 0))
            else:
                await ticket.refund()
            raise
        ticket.settle(Usage(result.prompt_tokens, 0))
        self.metrics.observe_tokens(spec.id, result.prompt_tokens, 0)
        return Embedded(result, ticket.headers)


def check_dimensions(model_id: str, engine: EmbeddingEngine, dimensions: int | None) -> None:
    """`dimensions` may shorten the vectors of a Matryoshka model; asking for the full size is always fine."""
    native = engine.dimension
    if dimensions is None or dimensions == native:
        return
    if not engine.supports_dimensions:
        raise InvalidRequest(
            f"The model {model_id!r} does not support `dimensions`: its vectors always have {native} "
            "dimensions.",
            param="dimensions",
        )
    if dimensions > native:
        raise InvalidRequest(
            f"dimensions must be at most {native} for the model {model_id!r}.", param="dimensions"
        )
