"""The gate every metered model call passes before its engine runs, whatever the modality.

In order: the model exists and is served (404), it does what the endpoint asks (400: an embedding model
cannot chat), the caller's token may use it (403), and one call of quota is reserved (429, counted in
the metrics by the limit that refused it). After the engine ran, the service settles the `Ticket` with
the usage, or refunds it when the call failed on our side or the engine found the input invalid.
"""

from __future__ import annotations

import asyncio

from openmaas.access.metering import Metering, Ticket
from openmaas.domain.accounts import Caller
from openmaas.domain.errors import InvalidRequest, PermissionDenied, QuotaExceeded
from openmaas.domain.models import ModelSpec, Task
from openmaas.draining import SHUTDOWN, cancelled_by
from openmaas.engines.manager import EngineManager
from openmaas.metrics import Metrics


class ModelGate:
    def __init__(self, engines: EngineManager, metering: Metering, metrics: Metrics) -> None:
        self.engines = engines
        self.metering = metering
        self.metrics = metrics

    def spec(self, caller: Caller, model_id: str, *, tasks: tuple[Task, ...], serves: str) -> ModelSpec:
        """The model if it is served, of one of `tasks`, and allowed to the caller; `serves` names the
        kind of model the endpoint needs, for the 400 ("a chat model")."""
        spec = self.engines.spec(model_id)
        if spec.task not in tasks:
            raise wrong_task(spec, serves)
        if not caller.may_use(model_id):
            raise PermissionDenied(
                f"This access token is not allowed to use the model {model_id!r}.", code="model_not_allowed"
            )
        return spec

    async def reserve(self, caller: Caller, spec: ModelSpec) -> Ticket:
        try:
            return await self.metering.reserve(caller, spec)
        except QuotaExceeded as exc:
            self.metrics.quota_rejections.labels(exc.limit).inc()
            raise


# Where each kind of model is called: said in the 400 of a model called at the wrong endpoint.
_ENDPOINTS: dict[Task, str] = {
    "chat": "POST /v1/chat/completions (or /v1/messages)",
    "vision": "POST /v1/chat/completions (or /v1/messages) with image parts",
    "embedding": "POST /v1/embeddings (OpenAI SDK: client.embeddings.create)",
    "image": "POST /v1/images/generations (OpenAI SDK: client.images.generate; ModelScope's "
    "X-ModelScope-Async-Mode for a task)",
}


def wrong_task(spec: ModelSpec, serves: str) -> InvalidRequest:
    """The 400 of a model called at an endpoint for another kind of model, saying where to call it."""
    article = "an" if spec.task[0] in "aeiou" else "a"
    return InvalidRequest(
        f"The model {spec.id!r} is {article} {spec.task} model, not {serves}: call it with "
        f"{_ENDPOINTS[spec.task]}.",
        param="model",
        code="wrong_model_task",
    )


def counts_as_answered(exc: BaseException) -> bool:
    """A call cut short by the client (cancellation, closed generator) still counts; one the server cut
    at the end of its shutdown grace does not."""
    return isinstance(exc, asyncio.CancelledError | GeneratorExit) and not cancelled_by(exc, SHUTDOWN)
