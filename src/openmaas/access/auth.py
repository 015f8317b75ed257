"""Who is calling: the access token from `Authorization: Bearer …` (or `x-api-key`) → a `Caller`.

When the store offers an access epoch (the scaled-out mode: a counter in Redis that every token
revocation and user change moves), token lookups are cached in the process: a request costs one small
Redis read instead of a database query, and a revoked token is still refused on its very next request,
by every process, because the epoch it reads has moved and the cache is dropped. Without an epoch (the
embedded SQLite mode, where a lookup costs tens of microseconds) every request reads the store.

Epoch reads are shared without losing exactness: a request uses a read that began after it arrived.
While one read is in flight, the requests arriving meanwhile wait for the next one, which starts as
soon as it lands, so under load one read serves many requests.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict

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
    """`max_age`: how long a cached lookup may be used at most (changes made behind the store's back,
    such as a hand-edited database, show up after it)."""

    def __init__(self, store: RecordStore, *, cache_size: int = 100_000, max_age: float = 60.0) -> None:
        self.store = store
        self.cache_size = cache_size
        self.max_age = max_age
        self._cache: OrderedDict[str, tuple[Caller, float]] = OrderedDict()
        self._epoch: int | None = None
        self._reading: asyncio.Future[int | None] | None = None
        self._next_read: asyncio.Future[int | None] | None = None

    async def caller(self, token: str | None) -> Caller:
        if token is None:
            raise AuthenticationFailed(
                "Missing access token: send `Authorization: Bearer <token>` (the SDKs' `api_key`). "
                + WHERE_TO_GET_ACCESS,
                code="missing_api_key",
            )
        caller = await self._lookup(token_hash(token)) if is_token(token) else None
        if caller is None:
            raise AuthenticationFailed(why_refused(token), code="invalid_api_key")
        return caller

    def _epoch_read_after_now(self) -> asyncio.Future[int | None]:
        if self._reading is None:
            self._reading = asyncio.ensure_future(self.store.access_epoch())
            self._reading.add_done_callback(self._epoch_read_done)
            return self._reading
        if self._next_read is None:
            self._next_read = asyncio.get_running_loop().create_future()
        return self._next_read

    def _epoch_read_done(self, _: asyncio.Future[int | None]) -> None:
        self._reading = None
        waiting, self._next_read = self._next_read, None
        if waiting is not None:
            self._epoch_read_after_now().add_done_callback(lambda read: _pass_on(read, waiting))

    async def _lookup(self, digest: str) -> Caller | None:
        if not self.store.has_access_epoch:
            return await self.store.caller_for(digest)
        # shield: a request that is cancelled must not cancel the read other requests wait for.
        epoch = await asyncio.shield(self._epoch_read_after_now())
        if epoch is None:
            return await self.store.caller_for(digest)
        if epoch != self._epoch:
            self._cache.clear()
            self._epoch = epoch
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[1] > now:
            return hit[0]
        caller = await self.store.caller_for(digest)
        # Cache only if no change happened meanwhile (a lookup that began before a revocation must not
        # be stored after it); unknown tokens are not cached.
        if caller is not None and self._epoch == epoch:
            self._cache[digest] = (caller, now + self.max_age)
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return caller


def _pass_on(source: asyncio.Future[int | None], target: asyncio.Future[int | None]) -> None:
    if target.done():
        return
    if source.cancelled():
        target.cancel()
    elif source.exception() is not None:
        target.set_exception(source.exception())  # type: ignore[arg-type]
    else:
        target.set_result(source.result())
