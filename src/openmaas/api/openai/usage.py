"""`GET /v1/usage`: the caller's limits, calls used and left today (total and per model), and the reset."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from openmaas.api.deps import CurrentCaller, ServicesDep
from openmaas.api.errors import JSONBody
from openmaas.api.openai.errors import OpenAIRoute, errors
from openmaas.api.openai.responses import UsageReport

router = APIRouter(route_class=OpenAIRoute)


@router.get("/v1/usage", responses={200: {"model": UsageReport}, **errors(401)})
async def get_usage(caller: CurrentCaller, services: ServicesDep) -> JSONBody:
    found = await services.usage.today(caller)
    return JSONBody(
        {
            "object": "usage",
            "user": caller.user.name,
            "day": found.day.isoformat(),
            "timezone": services.settings.timezone,
            "limit": found.limit,
            "used": found.used,
            "remaining": found.remaining,
            "reset_at": found.reset_at.isoformat(),
            "reset_in_seconds": found.reset_in_seconds,
            "models": [asdict(m) for m in found.models],
        }
    )
