"""`create_app(settings)`: the whole server, built explicitly from its settings.

Nothing lives in module globals: the store, engines, services and metrics are created in the app's
lifespan and reached by routes through typed dependencies (`openmaas.api.deps`).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from starlette.exceptions import HTTPException

from openmaas import __version__
from openmaas.access.clock import Clock, system_clock
from openmaas.api import admin, health
from openmaas.api.anthropic import messages
from openmaas.api.anthropic.errors import render_anthropic_error
from openmaas.api.calls import CallMiddleware
from openmaas.api.console import account
from openmaas.api.console.static import ConsoleAssets, console_router
from openmaas.api.errors import as_openmaas_error, note_error, request_id_of
from openmaas.api.images import files, generations, tasks
from openmaas.api.middleware import RequestContextMiddleware
from openmaas.api.mistakes import misplaced_api_path, wrong_method
from openmaas.api.openai import chat, embeddings, models, usage
from openmaas.api.openai.errors import render_openai_error
from openmaas.api.openapi import openapi_document
from openmaas.api.responses import routes as responses
from openmaas.catalog import Catalog, load_catalog
from openmaas.domain.errors import OpenMaaSError
from openmaas.draining import Drain
from openmaas.engines.factories import EngineFactories, default_factories
from openmaas.engines.manager import EngineManager
from openmaas.metrics import Metrics
from openmaas.services.container import running_services
from openmaas.settings import Settings
from openmaas.weights import WeightsResolver

log = logging.getLogger(__name__)


def render_error_for_path(path: str, error: OpenMaaSError, request_id: str) -> Response:
    """Errors raised outside any route (unknown path, body too large) in the path's dialect."""
    if path.startswith("/v1/messages"):
        return render_anthropic_error(error, request_id)
    return render_openai_error(error, request_id)


def create_app(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    catalog: Catalog | None = None,
    factories: EngineFactories | None = None,
) -> FastAPI:
    """Build the server. `clock`, `catalog` and `factories` are for tests and embedding."""
    the_catalog = catalog if catalog is not None else load_catalog(settings.models_file)
    if settings.shared_image_queue:
        the_catalog = _without_local_image_models(the_catalog)
    the_factories = factories if factories is not None else default_factories()
    engines = EngineManager(
        the_catalog, the_factories, settings.data_dir, WeightsResolver(settings.data_dir).resolve
    )
    metrics = Metrics(engines.stats, engines.has)
    drain = Drain()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running_services(settings, the_catalog, engines, metrics, drain, clock) as services:
            app.state.services = services
            yield

    app = FastAPI(
        title="OpenMaaS",
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        **_without_fastapi_telemetry(),
    )
    routers = [health.router, models.router, chat.router, embeddings.router, usage.router, messages.router]
    routers += [responses.router, generations.router, tasks.router, files.router, account.router]
    for router in (*routers, admin.router):
        app.include_router(router)
    app.include_router(console_router(ConsoleAssets.load()))
    _install_fallback_errors(app)
    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]
    app.state.drain = drain  # for the server's signal handling, which may come before the lifespan
    app.add_middleware(CallMiddleware, drain=drain, render_error=render_error_for_path)
    app.add_middleware(
        RequestContextMiddleware,
        metrics=metrics,
        max_body_bytes=settings.max_body_bytes,
        render_error=render_error_for_path,
    )
    return app


def _without_local_image_models(catalog: Catalog) -> Catalog:
    """With the shared image queue, image models run on image workers only (found in the worker
    directory), never in an API process."""
    local = [m for m in catalog.models if m.task == "image" and m.enabled]
    if local:
        log.warning(
            "image models run on image workers with the shared queue; not loading them here",
            extra={"models": [m.id for m in local]},
        )
    return Catalog(m for m in catalog.models if m.task != "image")


def _without_fastapi_telemetry() -> dict[str, Any]:
    """OpenMaaS exports its own Prometheus metrics. FastAPI's built-in OpenTelemetry hooks (0.16x) look
    up the global providers on every request even when none is set: ~5% of a request's CPU."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}


def _install_fallback_errors(app: FastAPI) -> None:
    async def http_error(request: Request, exc: Exception) -> Response:
        path, error = request.url.path, as_openmaas_error(exc)
        if error.status == 404:  # no route: perhaps a base URL without /v1, or with one too many
            path, error = misplaced_api_path(
                path, request.method, app.router.routes, str(request.base_url)
            ) or (path, error)
        elif error.status == 405:
            error = wrong_method(path, request.method, app.router.routes) or error
        note_error(request, error)
        return render_error_for_path(path, error, request_id_of(request))

    handler: Callable[..., object] = http_error
    app.add_exception_handler(HTTPException, handler)  # type: ignore[arg-type]
