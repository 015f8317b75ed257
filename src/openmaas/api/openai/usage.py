"""`GET /v1/usage`: the caller's limits, calls used and left today (total and per model), and the reset."""

from __future__ import annotations

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
            "models": [
                {
                    "model": m.model,
                    "limit": m.limit,
                    "used": m.used,
                    "remaining": m.remaining,
                    "prompt_tokens": m.prompt_tokens,
                    "completion_tokens": m.completion_tokens,
                }
                for m in found.models
            ],
        }
    )
