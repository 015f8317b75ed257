"""A chat engine whose model runs elsewhere, on several replicas, with balancing and failover.

Subclasses say how to talk to one replica (`_open`: a request → its event stream; `_check`: a health
check); this class chooses the replica, keeps the in-flight counts and the circuit breakers, runs the
health checks, and retries a request **once**, on another replica, when it failed before its first
event reached the caller. Once an event has been handed on, a failure ends the answer: never a retry
that would send a client a second beginning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from openmaas.domain.chat import ChatEvent, ChatRequest
from openmaas.domain.errors import EngineFailure, InvalidRequest, Overloaded
from openmaas.domain.models import ModelSpec
from openmaas.engines.base import ChatEngine, EngineContext, EngineStats
from openmaas.engines.remote.replicas import Replica, ReplicaSet

log = logging.getLogger(__name__)


class ReplicaFailed(Exception):
    """One replica could not answer (unreachable, 5xx, 429, timeout, broken stream).

    `refused`: nothing listens there (the breaker opens at once). `busy`: it said 429/503."""

    def __init__(self, message: str, *, refused: bool = False, busy: bool = False) -> None:
        super().__init__(message)
        self.refused = refused
        self.busy = busy


def estimate_prompt_tokens(request: ChatRequest) -> int:
    """A prompt's size when the replica never said it (the client left before the usage came):
    about four characters per token, plus a few per message for the chat template."""
    return sum(len(m.text) // 4 + 4 for m in request.messages)


class FailoverChatEngine(ChatEngine):
    #: Seconds between health checks of every replica.
    health_interval: float = 5.0

    @classmethod
    def reads_weights(cls, spec: ModelSpec) -> bool:
        return False  # the replicas hold the model

    def __init__(self, spec: ModelSpec, context: EngineContext) -> None:
        super().__init__(spec, context)
        self.replicas = ReplicaSet()
        self._health: asyncio.Task[None] | None = None

    # ---- what a subclass provides ----------------------------------------------------------------

    def _open(self, replica: Replica, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        """The answer of `replica` as events. Raises `ReplicaFailed` for failures of the replica,
        `InvalidRequest` for input it refused (not retried: another replica would refuse it too)."""
        raise NotImplementedError

    async def _check(self, replica: Replica) -> bool:
        """Is the replica up and serving this model?"""
        raise NotImplementedError

    # ---- lifecycle --------------------------------------------------------------------------------

    def start_health_checks(self) -> None:
        self._health = asyncio.get_running_loop().create_task(self._check_forever())

    async def close(self) -> None:
        if self._health is not None:
            self._health.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health

    async def _check_forever(self) -> None:
        while True:
            await asyncio.sleep(self.health_interval)
            await self.check_all()

    async def check_all(self) -> None:
        replicas = list(self.replicas.replicas)
        verdicts = await asyncio.gather(*(self._safe_check(r) for r in replicas))
        for replica, healthy in zip(replicas, verdicts, strict=True):
            if not healthy:
                log.warning(
                    "replica failed its health check", extra={"model": self.spec.id, "url": replica.url}
                )
            replica.breaker.health(healthy)

    async def _safe_check(self, replica: Replica) -> bool:
        try:
            return await self._check(replica)
        except Exception:
            return False

    def stats(self) -> EngineStats:
        return EngineStats(queued=0, running=self.replicas.in_flight)

    # ---- serving ------------------------------------------------------------------------------------

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        tried: list[Replica] = []
        while True:
            replica = self.replicas.choose(exclude=tried)
            if replica is None:
                raise self._none_left(tried)
            tried.append(replica)
            replica.in_flight += 1
            events = self._open(replica, request)
            started = False
            try:
                async for event in events:
                    started = True
                    yield event
            except ReplicaFailed as exc:
                replica.breaker.failure(immediate=exc.refused)
                log.warning(
                    "replica failed",
                    extra={"model": self.spec.id, "url": replica.url, "error": str(exc), "started": started},
                )
                if started or len(tried) >= 2:
                    raise self._failed(exc) from exc
                continue  # nothing reached the caller yet: once more, elsewhere
            except InvalidRequest:
                replica.breaker.success()  # it answered, properly: the input was refused
                raise
            finally:
                replica.in_flight -= 1
                await events.aclose()  # type: ignore[attr-defined]
            replica.breaker.success()
            return

    def _none_left(self, tried: list[Replica]) -> Overloaded:
        where = "no live replica" if not self.replicas.replicas else "every replica is unavailable"
        if tried:
            where = "no other replica is available"
        return Overloaded(
            f"The model {self.spec.id!r} cannot be served right now ({where}); retry shortly.",
            retry_after=self.replicas.seconds_until_ready(),
        )

    def _failed(self, exc: ReplicaFailed) -> EngineFailure | Overloaded:
        if exc.busy:
            return Overloaded(f"The model {self.spec.id!r} is overloaded; retry shortly.", retry_after=2)
        return EngineFailure(f"The model {self.spec.id!r} failed while answering.")

    def count_tokens(self, request: ChatRequest) -> int:
        return estimate_prompt_tokens(request)
