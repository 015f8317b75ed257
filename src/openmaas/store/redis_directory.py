"""The worker directory in Redis: which engine workers are alive and which models each serves.

A worker registers itself, then renews the registration every heartbeat; it is alive while its last
renewal is younger than its TTL (three heartbeats). API processes read the live entries to find the
replicas of each model: no configuration to edit when a worker comes or goes.

    HASH {prefix:workers}        worker id → {"url", "models": [ModelSpec...], "pid", "host"}
    ZSET {prefix:workers}:alive  worker id, scored by when its registration lapses (unix time)

Reading the live entries and dropping the lapsed ones is one Lua script: one round trip, and a worker
renewing at that moment is never half-removed.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from pydantic import ValidationError
from redis.asyncio import Redis

from openmaas.domain.models import ModelSpec
from openmaas.store.base import WorkerDirectory, WorkerEntry

# KEYS: the alive zset, the entries hash; ARGV[1]: now. Returns {ids, entries} of the live workers.
_LIVE = """
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if #lapsed > 0 then
  redis.call('ZREM', KEYS[1], unpack(lapsed))
  redis.call('HDEL', KEYS[2], unpack(lapsed))
end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf')
if #ids == 0 then return {} end
return {ids, redis.call('HMGET', KEYS[2], unpack(ids))}
"""


class RedisWorkerDirectory(WorkerDirectory):
    """The directory on its own Redis client, which `close` closes."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        # One hash tag: both keys live in the same slot of a Redis Cluster (the script needs that).
        self.entries_key = f"{{{prefix}:workers}}"
        self.alive_key = f"{{{prefix}:workers}}:alive"
        self._live: Any = redis.register_script(_LIVE)

    async def close(self) -> None:
        await self.redis.aclose()

    async def register(
        self, worker_id: str, url: str, models: list[ModelSpec], ttl: float, **about: Any
    ) -> None:
        entry = {"url": url, "models": [m.model_dump(mode="json") for m in models], **about}
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.entries_key, worker_id, orjson.dumps(entry))
            pipe.zadd(self.alive_key, {worker_id: time.time() + ttl})
            await pipe.execute()

    async def unregister(self, worker_id: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(self.alive_key, worker_id)
            pipe.hdel(self.entries_key, worker_id)
            await pipe.execute()

    async def live(self) -> list[WorkerEntry]:
        """The live workers (lapsed ones are removed on the way)."""
        result = await self._live(keys=[self.alive_key, self.entries_key], args=[time.time()])
        if not result:
            return []
        ids, raw_entries = result
        entries = []
        for worker_id, raw in zip(ids, raw_entries, strict=True):
            entry = _entry(worker_id.decode(), raw) if raw is not None else None
            if entry is not None:
                entries.append(entry)
        return entries


def _entry(worker_id: str, raw: bytes) -> WorkerEntry | None:
    try:
        data = orjson.loads(raw)
        models = tuple(ModelSpec.model_validate(m) for m in data["models"])
        return WorkerEntry(worker_id, str(data["url"]), models)
    except (ValueError, KeyError, TypeError, ValidationError):
        return None  # written by an incompatible version: not ours to use
