"""The API tier's view of the engine workers: models found in the worker directory become servable.

Every heartbeat interval the API process reads the live workers. A model it does not serve itself gets
a `WorkerChatEngine` (listed in `/v1/models`, metered like any model); the engine's replicas follow the
directory: a new worker joins within one interval, a worker whose registration lapsed (killed, or
unreachable for three heartbeats) leaves. Between two reads the circuit breakers take a failing worker
out at once. A model whose workers all left stays listed and answers 503 until one returns.

Image models (with the shared image queue) get a `QueuedImageEngine`: their tasks go through the queue
to the workers that registered them; the engine only counts those workers, refusing tasks while none
is alive. Chat models need the worker secret (the API tier calls the workers); image models do not.
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict

from openmaas.domain.models import CHAT_TASKS, ModelSpec
from openmaas.engines.base import EngineContext
from openmaas.engines.manager import EngineManager, model_cache_dir
from openmaas.engines.remote.http import Timeouts, new_session
from openmaas.engines.remote.queued_images import QueuedImageEngine
from openmaas.engines.remote.worker_engine import WorkerChatEngine
from openmaas.periodic import Periodic
from openmaas.settings import Settings
from openmaas.store.backends import worker_directory

log = logging.getLogger(__name__)


class WorkerDiscovery:
    def __init__(self, settings: Settings, engines: EngineManager) -> None:
        self.settings = settings
        self.engines = engines
        self.interval = settings.worker_heartbeat_seconds
        self.directory = worker_directory(settings)
        self.session = new_session(Timeouts())
        secret = settings.worker_secret
        self._secret = secret.get_secret_value() if secret is not None else None
        self._remote: dict[str, WorkerChatEngine | QueuedImageEngine] = {}
        self._shadowed: set[str] = set()
        self._reading = Periodic(
            "reading the worker directory", self.refresh, self.interval, first_after=self.interval
        )

    async def start(self) -> None:
        """Read the directory once (so the first requests find the workers), then keep reading it."""
        with contextlib.suppress(Exception):
            await self.refresh()
        self._reading.start()

    async def close(self) -> None:
        """After the engine manager closed the engines: stop reading, close the connections."""
        await self._reading.stop()
        await self.session.close()
        await self.directory.close()

    async def refresh(self) -> None:
        offers: dict[str, list[tuple[str, str]]] = defaultdict(list)
        specs: dict[str, ModelSpec] = {}
        for entry in await self.directory.live():
            for spec in entry.models:
                offers[spec.id].append((entry.worker_id, entry.url))
                specs.setdefault(spec.id, spec)
        for model_id, workers in offers.items():
            engine = self._remote.get(model_id) or await self._attach(specs[model_id])
            if engine is not None:
                _offered_by(engine, sorted(workers))
        for model_id, engine in self._remote.items():
            if model_id not in offers:
                _offered_by(engine, [])

    async def _attach(self, spec: ModelSpec) -> WorkerChatEngine | QueuedImageEngine | None:
        servable = (spec.task in CHAT_TASKS and self._secret is not None) or (
            spec.task == "image" and self.settings.shared_image_queue
        )
        if not servable:
            return None
        if self.engines.has(spec.id):
            if spec.id not in self._shadowed:
                self._shadowed.add(spec.id)
                log.warning(
                    "a worker serves a model this process serves itself; using its own",
                    extra={"model": spec.id},
                )
            return None
        context = EngineContext(
            cache_dir=model_cache_dir(self.settings.data_dir, spec.id),
            resolve_weights=self.engines.resolve_weights,
        )
        engine: WorkerChatEngine | QueuedImageEngine
        if spec.task == "image":
            engine = QueuedImageEngine(spec, context)
        else:
            assert self._secret is not None
            engine = WorkerChatEngine(
                spec,
                context,
                session=self.session,
                secret=self._secret,
                health_interval=max(1.0, self.interval),
            )
        await engine.start()
        self.engines.attach(spec, engine)
        self._remote[spec.id] = engine
        log.info("serving a model from engine workers", extra={"model": spec.id})
        return engine


def _offered_by(engine: WorkerChatEngine | QueuedImageEngine, workers: list[tuple[str, str]]) -> None:
    if isinstance(engine, QueuedImageEngine):
        engine.set_workers(len(workers))
    else:
        engine.set_replicas(workers)
