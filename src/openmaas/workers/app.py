"""The engine worker's internal HTTP API, and its registration in the worker directory.

    GET  /internal/health   {"worker", "models": {id: ready|loading|failed|idle}, "in_flight",
                             "image_tasks": [ids of the image tasks running here],
                             "engines": {id: {"queued", "running", "generated_tokens", ...}}}
    POST /internal/v1/chat  a `ChatRequest` (see `openmaas.engines.remote.wire`) → NDJSON events

Image models in the worker's registry do not go through this API: they take tasks from the shared
queue (`image_tasks.py`).

Every route wants `Authorization: Bearer <worker_secret>`: a worker is not an open door to its models.
Errors before the first event are HTTP statuses (400 invalid input, 404 model not here, 503 loading or
overloaded, 500 engine failure) with `{"error": {"message", "type"}}`; after it, an error line. A
closed connection (the client left) closes the engine's stream, which stops the generation.

While it runs, the worker renews its registration every `worker_heartbeat_seconds` with the models
that are ready, so the API tier sends nothing to a model still loading; at shutdown it unregisters.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from openmaas.catalog import Catalog, load_catalog
from openmaas.domain.chat import ChatEvent
from openmaas.domain.errors import AuthenticationFailed, EngineFailure, InvalidRequest, OpenMaaSError
from openmaas.domain.generation import GenerationDefaults
from openmaas.engines.factories import EngineFactories, default_factories
from openmaas.engines.manager import EngineManager
from openmaas.engines.remote.wire import MEDIA_TYPE, WireError, decode_request, encode_error, encode_event
from openmaas.periodic import Periodic
from openmaas.services.admission import CHAT
from openmaas.services.chat import generation_defaults, prepare_request
from openmaas.settings import Settings
from openmaas.weights import WeightsResolver

if TYPE_CHECKING:
    from openmaas.workers.image_tasks import ImageTaskWorker

log = logging.getLogger(__name__)

#: A registration lapses after this many missed heartbeats.
HEARTBEATS_TO_LAPSE = 3


def worker_url(settings: Settings) -> str:
    if settings.worker_url:
        return settings.worker_url.rstrip("/")
    host = settings.host if settings.host not in ("0.0.0.0", "::", "") else socket.gethostname()  # noqa: S104
    return f"http://{host}:{settings.port}"


def _error(error: OpenMaaSError) -> Response:
    body = orjson.dumps({"error": {"message": error.message, "type": error.kind}})
    return Response(body, status_code=error.status, headers=error.headers, media_type="application/json")


class Worker:
    def __init__(self, settings: Settings, engines: EngineManager, worker_id: str) -> None:
        if settings.worker_secret is None:
            raise ValueError("an engine worker needs worker_secret (OPENMAAS_WORKER_SECRET)")
        self.settings = settings
        self._server_defaults = GenerationDefaults(max_tokens=settings.default_max_tokens)
        self.engines = engines
        self.worker_id = worker_id
        self.url = worker_url(settings)
        self._secret = settings.worker_secret.get_secret_value().encode()
        self.in_flight = 0
        self.image_tasks: ImageTaskWorker | None = None

    def _authorized(self, request: Request) -> bool:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), self._secret)

    async def health(self, request: Request) -> Response:
        if not self._authorized(request):
            return _error(AuthenticationFailed("This is an engine worker: the worker secret is required."))
        body = {
            "worker": self.worker_id,
            "models": self.engines.status(),
            "in_flight": self.in_flight,
            "engines": {model: asdict(stats) for model, stats in self.engines.stats().items()},
            "image_tasks": self.image_tasks.running() if self.image_tasks is not None else [],
        }
        return Response(orjson.dumps(body), media_type="application/json")

    async def chat(self, request: Request) -> Response:
        if not self._authorized(request):
            return _error(AuthenticationFailed("This is an engine worker: the worker secret is required."))
        model = ""
        try:
            chat_request = decode_request(await request.body())
            model = chat_request.model
            engine = CHAT.engine_of(await self.engines.engine(model))
            spec = self.engines.spec(model)
            defaults = generation_defaults(spec, engine, self._server_defaults)
            chat_request = prepare_request(spec, engine, chat_request, defaults)
            events = aiter(engine.stream(chat_request))
            first = await anext(events, None)
        except WireError as exc:
            return _error(InvalidRequest(str(exc)))
        except OpenMaaSError as exc:
            return _error(exc)
        except Exception:
            log.exception("engine failed", extra={"model": model})
            return _error(EngineFailure("The engine failed; see the worker's log."))
        return StreamingResponse(self._relay(first, events), media_type=MEDIA_TYPE)

    async def _relay(self, first: ChatEvent | None, events: AsyncIterator[ChatEvent]) -> AsyncIterator[bytes]:
        self.in_flight += 1
        try:
            if first is not None:
                yield encode_event(first)
            async for event in events:
                yield encode_event(event)
        except OpenMaaSError as exc:
            yield encode_error(exc.kind, exc.message)
        except Exception:
            log.exception("engine failed mid-answer")
            yield encode_error("engine", "The engine failed; see the worker's log.")
        finally:
            self.in_flight -= 1
            await events.aclose()  # type: ignore[attr-defined]

    # ---- registration -------------------------------------------------------------------------------

    @asynccontextmanager
    async def registered(self) -> AsyncIterator[None]:
        """Keep the registration renewed (every heartbeat, with the models that are ready) while the
        context runs; unregister on the way out."""
        from openmaas.store.backends import worker_directory

        directory = worker_directory(self.settings)
        interval = self.settings.worker_heartbeat_seconds

        async def renew() -> None:
            ready = [self.engines.spec(m) for m, state in self.engines.status().items() if state == "ready"]
            await directory.register(
                self.worker_id,
                self.url,
                ready,
                ttl=interval * HEARTBEATS_TO_LAPSE,
                pid=os.getpid(),
                host=socket.gethostname(),
            )

        heartbeat = Periodic("renewing the worker registration", renew, interval)
        heartbeat.start()
        try:
            yield
        finally:
            await heartbeat.stop()
            with contextlib.suppress(Exception):
                await directory.unregister(self.worker_id)
            await directory.close()


def create_worker_app(
    settings: Settings, *, catalog: Catalog | None = None, factories: EngineFactories | None = None
) -> Starlette:
    the_catalog = catalog if catalog is not None else load_catalog(settings.models_file)
    the_factories = factories if factories is not None else default_factories()
    engines = EngineManager(
        the_catalog, the_factories, settings.data_dir, WeightsResolver(settings.data_dir).resolve
    )
    worker = Worker(settings, engines, f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}")

    image_models = [m.id for m in the_catalog.enabled() if m.task == "image"]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.worker = worker
        engines.start()
        image_tasks = None
        if image_models:
            from openmaas.workers.image_tasks import ImageTaskWorker  # the `scale` extra

            image_tasks = worker.image_tasks = ImageTaskWorker(
                settings, engines, image_models, worker.worker_id
            )
            await image_tasks.start()
        try:
            async with worker.registered() if settings.redis_url else contextlib.nullcontext():
                yield
        finally:
            if image_tasks is not None:
                await image_tasks.close()
            await engines.close()

    return Starlette(
        routes=[
            Route("/internal/health", worker.health, methods=["GET"]),
            Route("/internal/v1/chat", worker.chat, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
