"""`GET /v1/usage`: the caller's limits, calls used and left today (total and per model), and the reset."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from openmaas.access.metering import limits_for
from openmaas.api.deps import CurrentCaller, ServicesDep
from openmaas.api.errors import JSONBody
from openmaas.api.openai.errors import OpenAIRoute, errors
from openmaas.api.openai.responses import UsageReport

router = APIRouter(route_class=OpenAIRoute)


@router.get("/v1/usage", responses={200: {"model": UsageReport}, **errors(401)})
async def get_usage(caller: CurrentCaller, services: ServicesDep) -> JSONBody:
    day = services.quota_day
    today = day.today()
    total_used, per_model = await services.counter.used(caller.user.id, today)
    ledger = {row.model: row for row in await services.store.usage(today, today, caller.user.name)}
    models: list[dict[str, Any]] = []
    total_limit = None
    for spec in services.catalog.enabled():
        if not caller.may_use(spec.id):
            continue
        limits = limits_for(caller, spec, services.settings)
        total_limit = limits.total
        used = per_model.get(spec.id, 0)
        total_left = max(0, limits.total - total_used)
        model_left = total_left if limits.model is None else min(total_left, max(0, limits.model - used))
        row = ledger.get(spec.id)
        models.append(
            {
                "model": spec.id,
                "limit": limits.model,
                "used": used,
                "remaining": model_left,
                "prompt_tokens": row.prompt_tokens if row else 0,
                "completion_tokens": row.completion_tokens if row else 0,
            }
        )
    if total_limit is None:
        user = caller.user
        total_limit = (
            user.daily_limit if user.daily_limit is not None else services.settings.default_daily_limit
        )
    return JSONBody(
        {
            "object": "usage",
            "user": caller.user.name,
            "day": today.isoformat(),
            "timezone": services.settings.timezone,
            "limit": total_limit,
            "used": total_used,
            "remaining": max(0, total_limit - total_used),
            "reset_at": day.reset_at().isoformat(),
            "reset_in_seconds": day.seconds_to_reset(),
            "models": models,
        }
    )
