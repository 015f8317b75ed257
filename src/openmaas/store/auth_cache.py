"""The token cache of the scaled-out mode: `CachedRecordStore` wraps any record store and keeps its token
lookups in memory while a shared auth epoch stands still.

The epoch (`RedisAuthEpoch`: one integer in Redis) moves whenever any process revokes a token or changes
a user, through its own `CachedRecordStore`. A token lookup then costs one small Redis read instead of a
database query, and a revoked token is still refused on its very next lookup, by every process, because
the epoch it reads has moved and the cache is dropped. When the epoch cannot be read, lookups go to the
wrapped store. Without Redis (the embedded SQLite mode, where a lookup costs tens of microseconds) the
record store is used unwrapped and every lookup reads it.

Epoch reads are shared without losing exactness: a lookup uses a read that began after it was asked for.
While one read is in flight, the lookups arriving meanwhile wait for the next one, which starts as soon
as it lands, so under load one read serves many lookups.
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections import OrderedDict
from datetime import date

from redis.asyncio import Redis
from redis.exceptions import RedisError

from openmaas.domain.accounts import Caller, TokenInfo, UsageRow, User
from openmaas.domain.errors import Overloaded
from openmaas.store.base import UNSET, RecordStore, Unset


class AuthEpoch(abc.ABC):
    """One counter that moves whenever a token is revoked or a user's limits change, anywhere."""

    @abc.abstractmethod
    async def current(self) -> int | None:
        """The epoch, or None when it cannot be read (lookups then read the store afresh)."""

    @abc.abstractmethod
    async def bump(self) -> None:
        """Move the epoch (after a change is committed): every process drops its cached lookups."""


class RedisAuthEpoch(AuthEpoch):
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.key = f"{prefix}:auth-epoch"

    async def current(self) -> int | None:
        try:
            value = await self.redis.get(self.key)
        except RedisError:
            return None
        return int(value) if value is not None else 0

    async def bump(self) -> None:
        try:
            await self.redis.incr(self.key)
        except RedisError as exc:
            raise Overloaded(
                f"The change is saved, but the API processes could not be told ({type(exc).__name__}); "
                "they keep cached tokens for up to a minute. Retry once Redis is reachable."
            ) from exc


class CachedRecordStore(RecordStore):
    """`records` with cached token lookups. `max_age`: how long a cached lookup may be used at most
    (changes made behind the store's back, such as a hand-edited database, show up after it)."""

    def __init__(
        self, records: RecordStore, epoch: AuthEpoch, *, cache_size: int = 100_000, max_age: float = 60.0
    ) -> None:
        self.records = records
        self.epoch = epoch
        self.cache_size = cache_size
        self.max_age = max_age
        self._cache: OrderedDict[str, tuple[Caller, float]] = OrderedDict()
        self._epoch: int | None = None
        self._reading: asyncio.Future[int | None] | None = None
        self._next_read: asyncio.Future[int | None] | None = None

    async def open(self) -> None:
        await self.records.open()

    async def close(self) -> None:
        await self.records.close()

    # ---- token lookups, cached ------------------------------------------------------------------

    async def caller_for(self, token_hash: str) -> Caller | None:
        # shield: a lookup that is cancelled must not cancel the read other lookups wait for.
        epoch = await asyncio.shield(self._epoch_read_after_now())
        if epoch is None:
            return await self.records.caller_for(token_hash)
        if epoch != self._epoch:
            self._cache.clear()
            self._epoch = epoch
        now = time.monotonic()
        hit = self._cache.get(token_hash)
        if hit is not None and hit[1] > now:
            return hit[0]
        caller = await self.records.caller_for(token_hash)
        # Cache only if no change happened meanwhile (a lookup that began before a revocation must not
        # be stored after it); unknown tokens are not cached.
        if caller is not None and self._epoch == epoch:
            self._cache[token_hash] = (caller, now + self.max_age)
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return caller

    def _epoch_read_after_now(self) -> asyncio.Future[int | None]:
        if self._reading is None:
            self._reading = asyncio.ensure_future(self.epoch.current())
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

    # ---- changes that move the epoch ------------------------------------------------------------

    async def update_user(
        self,
        name: str,
        *,
        daily_limit: int | Unset | None = UNSET,
        model_daily_limit: int | Unset | None = UNSET,
        is_admin: bool | Unset = UNSET,
    ) -> User:
        user = await self.records.update_user(
            name, daily_limit=daily_limit, model_daily_limit=model_daily_limit, is_admin=is_admin
        )
        await self.epoch.bump()
        return user

    async def revoke_tokens(
        self, *, token_hash: str | None = None, prefix: str | None = None
    ) -> list[TokenInfo]:
        revoked = await self.records.revoke_tokens(token_hash=token_hash, prefix=prefix)
        if revoked:
            await self.epoch.bump()
        return revoked

    async def revoke_token(self, token_id: int) -> TokenInfo | None:
        token = await self.records.revoke_token(token_id)
        if token is not None:
            await self.epoch.bump()
        return token

    # ---- the rest, passed through ---------------------------------------------------------------

    async def add_user(
        self, name: str, *, is_admin: bool, daily_limit: int | None, model_daily_limit: int | None
    ) -> User:
        return await self.records.add_user(
            name, is_admin=is_admin, daily_limit=daily_limit, model_daily_limit=model_daily_limit
        )

    async def get_user(self, name: str) -> User | None:
        return await self.records.get_user(name)

    async def list_users(self) -> list[User]:
        return await self.records.list_users()

    async def add_token(
        self, user_id: int, *, token_hash: str, prefix: str, label: str, models: tuple[str, ...] | None
    ) -> TokenInfo:
        return await self.records.add_token(
            user_id, token_hash=token_hash, prefix=prefix, label=label, models=models
        )

    async def list_tokens(self, user_name: str | None = None) -> list[TokenInfo]:
        return await self.records.list_tokens(user_name)

    async def record_usage(
        self, user_id: int, day: date, model: str, *, calls: int, prompt_tokens: int, completion_tokens: int
    ) -> None:
        await self.records.record_usage(
            user_id, day, model, calls=calls, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )

    async def usage(self, first_day: date, last_day: date, user_name: str | None = None) -> list[UsageRow]:
        return await self.records.usage(first_day, last_day, user_name)


def _pass_on(source: asyncio.Future[int | None], target: asyncio.Future[int | None]) -> None:
    if target.done():
        return
    if source.cancelled():
        target.cancel()
    elif source.exception() is not None:
        target.set_exception(source.exception())  # type: ignore[arg-type]
    else:
        target.set_result(source.result())
