"""`/admin/api/models`: every model served here with its registry entry and whether it is loaded."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from openmaas.api.deps import CurrentAdmin, ServicesDep
from openmaas.api.errors import JSONBody
from openmaas.api.openai.errors import OpenAIRoute

router = APIRouter(route_class=OpenAIRoute)


@router.get("/admin/api/models")
async def list_models(admin: CurrentAdmin, services: ServicesDep) -> JSONBody:
    engines = services.engines
    status = engines.status()
    stats = engines.stats()
    data: list[dict[str, Any]] = []
    for spec in engines.specs():
        load = stats.get(spec.id)
        data.append(
            {
                "object": "model",
                "id": spec.id,
                "task": spec.task,
                "engine": spec.engine,
                "status": status.get(spec.id, "idle"),
                "preload": spec.preload,
                "daily_cap": spec.daily_cap,
                "capabilities": list(spec.all_capabilities),
                "context_length": spec.context_length,
                "description": spec.description,
                "queued": load.queued if load else 0,
                "running": load.running if load else 0,
            }
        )
    return JSONBody({"object": "list", "data": data})
