"""Redis: the quota counters of the scaled-out mode.

One hash per user and quota day (field `TOTAL` = calls across models, one field per model),
changed by one Lua script per reservation. The script checks both limits and increments both fields
atomically, in one round trip, so any number of API processes count exactly. The hash expires a margin
after the day's reset; the day is part of its key, so a new day starts from zero whatever the expiry.
The key's `{...}` hash tag keeps a user-day in one slot of a Redis Cluster.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from openmaas.domain.errors import Overloaded
from openmaas.store.base import TOTAL, QuotaCounter, QuotaState

#: How long yesterday's counters outlive the reset (clock skew between processes, late refunds).
EXPIRY_MARGIN_SECONDS = 3600

# KEYS[1] the user-day hash; ARGV: model field, total limit, model limit (-1: none), ttl seconds, total
# field (`TOTAL`).
# Returns {accepted (0/1), limit (0 none, 1 daily, 2 model), total used, model used}.
_RESERVE = """
local total = tonumber(redis.call('HGET', KEYS[1], ARGV[5]) or '0')
local model = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if total >= tonumber(ARGV[2]) then return {0, 1, total, model} end
local model_limit = tonumber(ARGV[3])
if model_limit >= 0 and model >= model_limit then return {0, 2, total, model} end
total = redis.call('HINCRBY', KEYS[1], ARGV[5], 1)
model = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('EXPIRE', KEYS[1], ARGV[4])
return {1, 0, total, model}
"""

# KEYS[1] the user-day hash; ARGV: the model field, the total field. Never below zero (a refund after
# the reset).
_RELEASE = """
for _, field in ipairs({ARGV[2], ARGV[1]}) do
  if tonumber(redis.call('HGET', KEYS[1], field) or '0') > 0 then
    redis.call('HINCRBY', KEYS[1], field, -1)
  end
end
return 1
"""

_LIMIT = {0: None, 1: "daily", 2: "model"}


def connect(url: str) -> Redis:
    """A client with a connection pool; hiredis parses replies when installed (the `scale` extra)."""
    return Redis.from_url(url, decode_responses=False, health_check_interval=30)


def unavailable(exc: Exception) -> Overloaded:
    return Overloaded(f"The quota store is unavailable ({type(exc).__name__}); retry shortly.", retry_after=2)


class RedisQuotaCounter(QuotaCounter):
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._reserve: Any = redis.register_script(_RESERVE)
        self._release: Any = redis.register_script(_RELEASE)

    def key(self, user_id: int, day: date) -> str:
        return f"{self.prefix}:quota:{{{user_id}:{day.isoformat()}}}"

    async def reserve(
        self,
        user_id: int,
        day: date,
        model: str,
        *,
        total_limit: int,
        model_limit: int | None,
        ttl_seconds: int,
    ) -> QuotaState:
        args = (
            model,
            total_limit,
            -1 if model_limit is None else model_limit,
            ttl_seconds + EXPIRY_MARGIN_SECONDS,
            TOTAL,
        )
        try:
            accepted, denied, total, used = await self._reserve(keys=[self.key(user_id, day)], args=args)
        except RedisError as exc:
            raise unavailable(exc) from exc
        return QuotaState(
            bool(accepted), _LIMIT[int(denied)], int(total), total_limit, int(used), model_limit
        )

    async def release(self, user_id: int, day: date, model: str) -> None:
        try:
            await self._release(keys=[self.key(user_id, day)], args=(model, TOTAL))
        except RedisError as exc:
            raise unavailable(exc) from exc

    async def used(self, user_id: int, day: date) -> tuple[int, dict[str, int]]:
        try:
            fields = await self.redis.hgetall(self.key(user_id, day))
        except RedisError as exc:
            raise unavailable(exc) from exc
        counts = {k.decode() if isinstance(k, bytes) else k: int(v) for k, v in fields.items()}
        return counts.pop(TOTAL, 0), counts
