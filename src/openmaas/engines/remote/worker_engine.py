"""A model served by OpenMaaS engine workers, as the API tier sees it.

Its replicas are the live workers that registered the model (kept up to date by
`openmaas.workers.discovery`); requests go over the internal protocol (`wire.py`) with the shared
worker secret, balanced and failed over like any remote engine (`failover.py`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import aiohttp

from openmaas.domain.chat import ChatEvent, ChatRequest, Usage
from openmaas.domain.models import ModelSpec
from openmaas.engines.base import EngineContext
from openmaas.engines.remote.failover import FailoverChatEngine, ReplicaFailed
from openmaas.engines.remote.http import HEALTH_TIMEOUT, lines, post
from openmaas.engines.remote.replicas import Replica
from openmaas.engines.remote.wire import MEDIA_TYPE, WireError, decode_event, encode_request

CHAT_PATH = "/internal/v1/chat"
HEALTH_PATH = "/internal/health"


class WorkerChatEngine(FailoverChatEngine):
    def __init__(
        self,
        spec: ModelSpec,
        context: EngineContext,
        *,
        session: aiohttp.ClientSession,
        secret: str,
        health_interval: float,
    ) -> None:
        super().__init__(spec, context)
        self.session = session
        self.health_interval = health_interval
        self.headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}

    async def start(self) -> None:
        self.start_health_checks()

    def set_replicas(self, workers: Iterable[tuple[str, str]]) -> None:
        """The live workers serving this model, as (worker id, url): known ones keep their breaker
        and in-flight count, new ones join, lapsed ones leave (their requests in flight finish)."""
        known = {(r.owner, r.url): r for r in self.replicas.replicas}
        self.replicas.replicas = [
            known.get((owner, url)) or Replica(url.rstrip("/"), headers=self.headers, owner=owner)
            for owner, url in workers
        ]

    async def _check(self, replica: Replica) -> bool:
        url = f"{replica.url}{HEALTH_PATH}"
        async with self.session.get(url, headers=self.headers, timeout=HEALTH_TIMEOUT) as response:
            if response.status != 200:
                return False
            health = await response.json()
        return bool(health.get("models", {}).get(self.spec.id) == "ready")

    async def _open(self, replica: Replica, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        body = encode_request(request)
        async with post(self.session, f"{replica.url}{CHAT_PATH}", body, self.headers) as response:
            if response.content_type != MEDIA_TYPE:
                raise ReplicaFailed(f"unexpected answer of type {response.content_type}")
            finished = False
            async for line in lines(response.content):
                if not line:
                    continue
                try:
                    item = decode_event(line)
                except WireError as exc:
                    raise ReplicaFailed(str(exc)) from exc
                if isinstance(item, tuple):
                    raise ReplicaFailed(f"the worker's engine failed ({item[0]}): {item[1]}")
                yield item
                if isinstance(item, Usage):
                    finished = True
            if not finished:
                raise ReplicaFailed("the worker's answer ended early")
