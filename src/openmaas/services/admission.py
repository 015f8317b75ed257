"""Admission: the one path every metered model call takes before its engine runs, whatever the modality.

`Admission.admit(caller, model_id, modality)` checks, in order:

1. the model exists and is served (404);
2. it is of the modality the endpoint serves (400, saying where to call it: an embedding model cannot
   chat);
3. the caller's token may use it (403);
4. the service's own cheap checks of the request against the model (`check`, before any engine loads);
5. its engine is loaded (503 while it loads; 500 when its load failed), implements the modality's
   engine interface (400), and takes calls now (`Engine.check_available`, 503).

The `Admitted` call holds the spec and the typed engine. The service then checks what needs the engine
(`dimensions`, a grammar, fetched images: 400) and `reserve`s one call of quota (429, counted in the
metrics by the limit that refused it) for the `Ticket` it settles with the usage afterwards, or refunds
when the call failed on our side or the engine found the input invalid. So an invalid call never takes
quota. Counting a prompt's tokens is admitted and never reserves: it is not metered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from openmaas.access.metering import Metering, Ticket
from openmaas.domain.accounts import Caller
from openmaas.domain.errors import InvalidRequest, PermissionDenied, QuotaExceeded
from openmaas.domain.models import CHAT_TASKS, ModelSpec, Task
from openmaas.draining import SHUTDOWN, cancelled_by
from openmaas.engines.base import ChatEngine, EmbeddingEngine, Engine, ImageEngine
from openmaas.engines.manager import EngineManager
from openmaas.metrics import Metrics

E = TypeVar("E", bound=Engine)


@dataclass(frozen=True, slots=True)
class Modality(Generic[E]):
    """A kind of model an endpoint serves: the registry tasks of its models and their engine interface."""

    #: The kind of model, as the 400 of a model called at the wrong endpoint names it.
    serves: str
    tasks: tuple[Task, ...]
    engine: type[E]

    def engine_of(self, engine: Engine) -> E:
        """The engine as this modality's interface, or 400 when the registry put the model on an engine
        of another kind."""
        if not isinstance(engine, self.engine):
            raise InvalidRequest(
                f"The model {engine.spec.id!r} runs on an engine that is not for {self.serves}, so it "
                "cannot serve this endpoint.",
                param="model",
            )
        return engine


CHAT = Modality("a chat model", CHAT_TASKS, ChatEngine)  # type: ignore[type-abstract]
EMBEDDING = Modality("an embedding model", ("embedding",), EmbeddingEngine)  # type: ignore[type-abstract]
IMAGE = Modality("an image model", ("image",), ImageEngine)  # type: ignore[type-abstract]

# Where each kind of model is called: said in the 400 of a model called at the wrong endpoint.
_ENDPOINTS: dict[Task, str] = {
    "chat": "POST /v1/chat/completions (or /v1/messages)",
    "vision": "POST /v1/chat/completions (or /v1/messages) with image parts",
    "embedding": "POST /v1/embeddings (OpenAI SDK: client.embeddings.create)",
    "image": "POST /v1/images/generations (OpenAI SDK: client.images.generate; ModelScope's "
    "X-ModelScope-Async-Mode for a task)",
}


class Admitted(Generic[E]):
    """A call that passed admission: its model, its engine, and the quota still to reserve."""

    def __init__(self, admission: Admission, caller: Caller, spec: ModelSpec, engine: E) -> None:
        self._admission = admission
        self.caller = caller
        self.spec = spec
        self.engine = engine

    async def reserve(self) -> Ticket:
        """One call of the caller's quota (429 naming the limit when it is used up)."""
        return await self._admission.reserve(self.caller, self.spec)


class Admission:
    def __init__(self, engines: EngineManager, metering: Metering, metrics: Metrics) -> None:
        self.engines = engines
        self.metering = metering
        self.metrics = metrics

    async def admit(
        self,
        caller: Caller,
        model_id: str,
        modality: Modality[E],
        *,
        check: Callable[[ModelSpec], None] | None = None,
    ) -> Admitted[E]:
        """The call admitted to the model's engine (see the module docstring for the order of checks)."""
        spec = self.spec(caller, model_id, modality)
        if check is not None:
            check(spec)
        engine = modality.engine_of(await self.engines.engine(spec.id))
        engine.check_available()
        return Admitted(self, caller, spec, engine)

    def spec(self, caller: Caller, model_id: str, modality: Modality[E]) -> ModelSpec:
        """The model if it is served, of the modality, and allowed to the caller."""
        spec = self.engines.spec(model_id)
        if spec.task not in modality.tasks:
            raise wrong_modality(spec, modality)
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


def wrong_modality(spec: ModelSpec, modality: Modality[E]) -> InvalidRequest:
    """The 400 of a model called at an endpoint for another kind of model, saying where to call it."""
    article = "an" if spec.task[0] in "aeiou" else "a"
    return InvalidRequest(
        f"The model {spec.id!r} is {article} {spec.task} model, not {modality.serves}: call it with "
        f"{_ENDPOINTS[spec.task]}.",
        param="model",
        code="wrong_model_task",
    )


def counts_as_answered(exc: BaseException) -> bool:
    """A call cut short by the client (cancellation, closed generator) still counts; one the server cut
    at the end of its shutdown grace does not."""
    return isinstance(exc, asyncio.CancelledError | GeneratorExit) and not cancelled_by(exc, SHUTDOWN)
