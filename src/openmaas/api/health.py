"""`/healthz` (the process is up), `/readyz` (the preloaded models are ready) and `/metrics`."""

from __future__ import annotations

from fastapi import APIRouter, Response

from openmaas.api.deps import ServicesDep
from openmaas.api.errors import JSONBody, OpenAIRoute

router = APIRouter(route_class=OpenAIRoute)


@router.get("/healthz")
async def healthz() -> JSONBody:
    return JSONBody({"status": "ok"})


@router.get("/readyz")
async def readyz(services: ServicesDep) -> JSONBody:
    models = services.engines.status()
    ready = services.engines.ready
    return JSONBody(
        {"status": "ready" if ready else "loading", "models": models}, status_code=200 if ready else 503
    )


@router.get("/metrics")
async def metrics(services: ServicesDep) -> Response:
    return Response(services.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
