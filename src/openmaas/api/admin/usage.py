"""`/admin/api/usage?from=YYYY-MM-DD&to=YYYY-MM-DD&user=NAME`: the usage ledger across users over a range
of quota days (default: the last 7 days), row by row and summed per user and per model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query

from openmaas.api.console.schemas import day
from openmaas.api.deps import CurrentAdmin, ServicesDep
from openmaas.api.errors import JSONBody
from openmaas.api.openai.errors import OpenAIRoute, errors
from openmaas.domain.accounts import UsageRow

router = APIRouter(route_class=OpenAIRoute)


def _sums(rows: list[UsageRow], label: str, of: Callable[[UsageRow], str]) -> list[dict[str, Any]]:
    """The rows summed per `of(row)` (a user or a model), the busiest first."""
    sums: dict[str, dict[str, Any]] = {}
    for row in rows:
        name = of(row)
        total = sums.setdefault(name, {label: name, "calls": 0, "prompt_tokens": 0, "completion_tokens": 0})
        total["calls"] += row.calls
        total["prompt_tokens"] += row.prompt_tokens
        total["completion_tokens"] += row.completion_tokens
    return sorted(sums.values(), key=lambda total: (-total["calls"], total[label]))


@router.get("/admin/api/usage", responses=errors(400, 404))
async def usage(
    admin: CurrentAdmin,
    services: ServicesDep,
    first: Annotated[str | None, Query(alias="from")] = None,
    last: Annotated[str | None, Query(alias="to")] = None,
    user: str | None = None,
) -> JSONBody:
    found = await services.usage.ledger(day(first, "from"), day(last, "to"), user or None)
    rows = found.rows
    return JSONBody(
        {
            "object": "usage",
            "from": found.first.isoformat(),
            "to": found.last.isoformat(),
            "timezone": services.settings.timezone,
            "user": user or None,
            "calls": sum(r.calls for r in rows),
            "prompt_tokens": sum(r.prompt_tokens for r in rows),
            "completion_tokens": sum(r.completion_tokens for r in rows),
            "by_user": _sums(rows, "user", lambda r: r.user_name),
            "by_model": _sums(rows, "model", lambda r: r.model),
            "data": [
                {
                    "day": r.day.isoformat(),
                    "user": r.user_name,
                    "model": r.model,
                    "calls": r.calls,
                    "prompt_tokens": r.prompt_tokens,
                    "completion_tokens": r.completion_tokens,
                }
                for r in rows
            ],
        }
    )
