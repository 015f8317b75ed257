"""`/admin/api/users`: users with their limits and today's calls; add a user, change limits and the
admin flag, issue a token for a user (its text shown once)."""

from __future__ import annotations

from fastapi import APIRouter

from openmaas.api.console.schemas import (
    NewTokenBody,
    NewUserBody,
    UserChangeBody,
    issued_token_entry,
    user_entry,
)
from openmaas.api.deps import CurrentAdmin, ServicesDep
from openmaas.api.errors import JSONBody
from openmaas.api.openai.errors import OpenAIRoute, errors

router = APIRouter(route_class=OpenAIRoute)


@router.get("/admin/api/users")
async def list_users(admin: CurrentAdmin, services: ServicesDep) -> JSONBody:
    day = services.quota_day
    settings = services.settings
    return JSONBody(
        {
            "object": "list",
            "day": day.today().isoformat(),
            "timezone": settings.timezone,
            "reset_at": day.reset_at().isoformat(),
            "defaults": {
                "daily_limit": settings.default_daily_limit,
                "model_daily_limit": settings.default_model_daily_limit,
            },
            "data": [user_entry(row) for row in await services.accounts.overview()],
        }
    )


@router.post("/admin/api/users", status_code=201, responses=errors(400, 413))
async def add_user(body: NewUserBody, admin: CurrentAdmin, services: ServicesDep) -> JSONBody:
    row = await services.accounts.add_user(
        body.name.strip(),
        is_admin=body.is_admin,
        daily_limit=body.daily_limit,
        model_daily_limit=body.model_daily_limit,
    )
    return JSONBody(user_entry(row), status_code=201)


@router.get("/admin/api/users/{name}", responses=errors(404))
async def get_user(name: str, admin: CurrentAdmin, services: ServicesDep) -> JSONBody:
    return JSONBody(user_entry(await services.accounts.user_overview(name)))


@router.patch("/admin/api/users/{name}", responses=errors(400, 404, 413))
async def change_user(
    name: str, body: UserChangeBody, admin: CurrentAdmin, services: ServicesDep
) -> JSONBody:
    row = await services.accounts.update_user(admin, name, **body.changes())
    return JSONBody(user_entry(row))


@router.post("/admin/api/users/{name}/tokens", status_code=201, responses=errors(400, 404, 413))
async def issue_token(name: str, body: NewTokenBody, admin: CurrentAdmin, services: ServicesDep) -> JSONBody:
    user = (await services.accounts.user_overview(name)).user
    issued = await services.accounts.issue_token(user, label=body.label, models=body.models)
    return JSONBody(issued_token_entry(issued), status_code=201)
