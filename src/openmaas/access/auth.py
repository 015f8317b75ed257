"""Who is calling: the access token from `Authorization: Bearer …` (or `x-api-key`) → a `Caller`.

The token's hash is looked up in the record store; in the scaled-out mode that store caches lookups
while no process changed a token or a user (`openmaas.store.auth_cache`), so a revoked token is refused
on its very next request either way.
"""

from __future__ import annotations

from openmaas.access.tokens import WHERE_TO_GET_ACCESS, is_token, token_hash, why_refused
from openmaas.domain.accounts import Caller
from openmaas.domain.errors import AuthenticationFailed
from openmaas.store.base import RecordStore


def token_from_headers(authorization: str | None, api_key: str | None) -> str | None:
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    if api_key and api_key.strip():
        return api_key.strip()
    return None


class Authenticator:
    def __init__(self, store: RecordStore) -> None:
        self.store = store

    async def caller(self, token: str | None) -> Caller:
        if token is None:
            raise AuthenticationFailed(
                "Missing access token: send `Authorization: Bearer <token>` (the SDKs' `api_key`). "
                + WHERE_TO_GET_ACCESS,
                code="missing_api_key",
            )
        caller = await self.store.caller_for(token_hash(token)) if is_token(token) else None
        if caller is None:
            raise AuthenticationFailed(why_refused(token), code="invalid_api_key")
        return caller
