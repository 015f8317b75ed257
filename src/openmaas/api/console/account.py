"""`/console/api/…`: what the web console needs beyond the public API, for any signed-in user.

- `GET /console/api/me`: who the token belongs to (name, admin or not, the token's scope).
- `GET /console/api/tokens`, `POST /console/api/tokens` (the text shown once), `DELETE
  /console/api/tokens/{id}`: the caller's own tokens; another user's token does not exist here (404).
- `GET /console/api/personas`: the terminal chat's personas (built-in, and the data dir's
  `personas.toml`), so that the chat playground offers the same ones.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter

from openmaas.api.console.schemas import (
    NewTokenBody,
    issued_token_entry,
    token_entry,
    token_id,
)
from openmaas.api.deps import CurrentCaller, ServicesDep
from openmaas.api.errors import JSONBody
from openmaas.api.openai.errors import OpenAIRoute, errors
from openmaas.personas import DEFAULT, PersonaError, Personas

log = logging.getLogger(__name__)
router = APIRouter(route_class=OpenAIRoute, responses=errors(401))


@router.get("/console/api/me")
async def me(caller: CurrentCaller) -> JSONBody:
    token = caller.token
    return JSONBody(
        {
            "object": "user",
            "name": caller.user.name,
            "is_admin": caller.user.is_admin,
            "token": {
                "id": token.id,
                "prefix": token.prefix,
                "label": token.label,
                "models": list(token.models) if token.models is not None else None,
            },
        }
    )


@router.get("/console/api/tokens")
async def list_own_tokens(caller: CurrentCaller, services: ServicesDep) -> JSONBody:
    tokens = await services.accounts.tokens(caller.user.name)
    return JSONBody({"object": "list", "data": [token_entry(t) for t in reversed(tokens)]})


@router.post("/console/api/tokens", status_code=201, responses=errors(400, 403, 413))
async def create_own_token(body: NewTokenBody, caller: CurrentCaller, services: ServicesDep) -> JSONBody:
    issued = await services.accounts.issue_token(
        caller.user, label=body.label, models=body.models, issuer=caller
    )
    return JSONBody(issued_token_entry(issued), status_code=201)


@router.delete("/console/api/tokens/{token}", responses=errors(404))
async def revoke_own_token(token: str, caller: CurrentCaller, services: ServicesDep) -> JSONBody:
    revoked = await services.accounts.revoke_own(caller, token_id(token))
    return JSONBody(token_entry(revoked))


@router.get("/console/api/personas")
async def personas(caller: CurrentCaller, services: ServicesDep) -> JSONBody:
    try:
        found = Personas.load(services.settings.data_dir)
    except PersonaError as exc:
        log.warning("the data dir's personas file is unusable; built-in personas only: %s", exc)
        found = Personas.load(None)
    data: list[dict[str, Any]] = [
        {"name": p.name, "description": p.description, "aliases": list(p.aliases), "system": p.system}
        for p in found.all()
    ]
    return JSONBody({"object": "list", "default": DEFAULT, "data": data})
