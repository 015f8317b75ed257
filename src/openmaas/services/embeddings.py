"""The embeddings service: from an authenticated, parsed request to metered vectors.

`EmbeddingService.embed` admits the call (`admission.py`: 404 unknown model, 400 not an embedding model,
403 token scope, 503 while its engine loads), checks `dimensions` against the engine (400, before any
quota is used), reserves one call (429), and runs the engine. The call is settled with the tokens the
model read, or given back when the engine refuses the input (an input too long: 400) or fails (5xx). A
call whose client went away while it waited for its batch still counts, as a chat call cut short does.
"""

from __future__ import annotations

from dataclasses import dataclass

from openmaas.domain.accounts import Caller
from openmaas.domain.chat import Usage
from openmaas.domain.embeddings import EmbeddingRequest, EmbeddingResult
from openmaas.domain.errors import InvalidRequest
from openmaas.engines.base import EmbeddingEngine
from openmaas.metrics import Metrics
from openmaas.services.admission import EMBEDDING, Admission, counts_as_answered


@dataclass(frozen=True, slots=True)
class Embedded:
    result: EmbeddingResult
    headers: dict[str, str]
    """The quota headers of the call."""


class EmbeddingService:
    def __init__(self, admission: Admission, metrics: Metrics) -> None:
        self.admission = admission
        self.metrics = metrics

    async def embed(self, caller: Caller, request: EmbeddingRequest) -> Embedded:
        admitted = await self.admission.admit(caller, request.model, EMBEDDING)
        spec, engine = admitted.spec, admitted.engine
        check_dimensions(spec.id, engine, request.dimensions)
        ticket = await admitted.reserve()
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
