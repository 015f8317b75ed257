"""`/healthz` (the process is up), `/readyz` (the preloaded models are ready, and the server is not
shutting down) and `/metrics`."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from openmaas.api.deps import ServicesDep
from openmaas.api.errors import JSONBody
from openmaas.api.openai.errors import OpenAIRoute

router = APIRouter(route_class=OpenAIRoute)


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "loading", "draining"]
    models: dict[str, str]
    """Per model: ready, loading, failed or idle."""


@router.get("/healthz", responses={200: {"model": Health}})
async def healthz() -> JSONBody:
    return JSONBody({"status": "ok"})


@router.get(
    "/readyz",
    responses={
        200: {"model": Readiness, "description": "Ready"},
        503: {"model": Readiness, "description": "Loading models, or shutting down"},
    },
)
async def readyz(services: ServicesDep) -> JSONBody:
    models = services.engines.status()
    ready = "ready" if services.engines.ready else "loading"
    status = "draining" if services.drain.draining else ready
    return JSONBody({"status": status, "models": models}, status_code=200 if status == "ready" else 503)


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(services: ServicesDep) -> Response:
    return Response(services.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
