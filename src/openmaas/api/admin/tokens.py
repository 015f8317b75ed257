"""`/admin/api/tokens`: every user's tokens (prefixes only), and revoking any of them."""

from __future__ import annotations

from fastapi import APIRouter

from openmaas.api.console.schemas import token_entry, token_id
from openmaas.api.deps import CurrentAdmin, ServicesDep
from openmaas.api.errors import JSONBody
from openmaas.api.openai.errors import OpenAIRoute, errors

router = APIRouter(route_class=OpenAIRoute)


@router.get("/admin/api/tokens", responses=errors(400))
async def list_tokens(
    admin: CurrentAdmin, services: ServicesDep, user: str | None = None, active: bool | None = None
) -> JSONBody:
    """Newest first; `?user=NAME` for one user's, `?active=true` for the usable ones only."""
    tokens = await services.accounts.tokens(user or None)
    if active is not None:
        tokens = [t for t in tokens if t.active == active]
    return JSONBody({"object": "list", "data": [token_entry(t) for t in reversed(tokens)]})


@router.delete("/admin/api/tokens/{token}", responses=errors(404))
async def revoke_token(token: str, admin: CurrentAdmin, services: ServicesDep) -> JSONBody:
    return JSONBody(token_entry(await services.accounts.revoke(token_id(token))))
