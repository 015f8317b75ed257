"""Typed dependencies that routes declare in their signatures: the services, and who is calling."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from openmaas.access.auth import token_from_headers
from openmaas.domain.accounts import Caller
from openmaas.domain.errors import PermissionDenied

if TYPE_CHECKING:
    from openmaas.services.container import Services


async def get_services(request: Request) -> Services:
    # async: FastAPI would run a plain `def` dependency in a worker thread, a costly hop per request.
    return services_of(request)


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated["Services", Depends(get_services)]


async def current_caller(request: Request) -> Caller:
    """The authenticated caller, from `Authorization: Bearer <token>` or `x-api-key: <token>`."""
    headers = request.headers
    token = token_from_headers(headers.get("authorization"), headers.get("x-api-key"))
    caller = await services_of(request).authenticator.caller(token)
    request.scope["state"]["user"] = caller.user.name
    return caller


CurrentCaller = Annotated[Caller, Depends(current_caller)]


async def current_admin(caller: CurrentCaller) -> Caller:
    """The caller, if an admin using a token for every model (401 without a token, else 403).

    A token limited to some models is meant for one application; it does not carry admin rights.
    """
    if not caller.user.is_admin:
        raise PermissionDenied("This needs an admin user.", code="admin_required")
    if caller.token.models is not None:
        raise PermissionDenied(
            "This token is limited to some models; admin requests need a token for every model.",
            code="admin_required",
        )
    return caller


CurrentAdmin = Annotated[Caller, Depends(current_admin)]


def note_model(request: Request, model: str) -> None:
    """Label this request's metrics and access-log line with the model it asked for."""
    request.scope["state"]["model"] = model
