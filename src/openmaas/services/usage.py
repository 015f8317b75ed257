"""Usage: what a caller used today against their limits (`GET /v1/usage`), and the usage ledger over a
range of quota days (the admin API's `/admin/api/usage`).

Both read the limits where metering works them out (`openmaas.access.metering`), so what they show is
what the next call is held to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from openmaas.access.clock import QuotaDay
from openmaas.access.metering import Metering, limits_for, user_limits
from openmaas.catalog import Catalog
from openmaas.domain.accounts import Caller, UsageRow
from openmaas.domain.errors import InvalidRequest
from openmaas.services.accounts import user_named
from openmaas.settings import Settings
from openmaas.store.base import QuotaCounter, RecordStore

MAX_USAGE_DAYS = 366


@dataclass(frozen=True, slots=True)
class ModelUsage:
    """Today's use of one model: its cap in force (None: none), calls used and left, tokens."""

    model: str
    limit: int | None
    used: int
    remaining: int
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class UsageToday:
    """A caller's day so far: the limit across models, calls used and left, when the day resets, and
    each model the caller's token may use."""

    day: date
    limit: int
    used: int
    remaining: int
    reset_at: datetime
    reset_in_seconds: int
    models: list[ModelUsage]


@dataclass(frozen=True, slots=True)
class UsageRange:
    first: date
    last: date
    rows: list[UsageRow]


class UsageService:
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        store: RecordStore,
        counter: QuotaCounter,
        quota_day: QuotaDay,
        metering: Metering,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.store = store
        self.counter = counter
        self.quota_day = quota_day
        self.metering = metering

    async def today(self, caller: Caller) -> UsageToday:
        """The caller's calls today, against their limits, for every registry model they may use."""
        today = self.quota_day.today()
        total_used, per_model = await self.counter.used(caller.user.id, today)
        ledger = {row.model: row for row in await self.store.usage(today, today, caller.user.name)}
        limit = user_limits(caller.user, self.settings).total
        total_left = max(0, limit - total_used)
        models: list[ModelUsage] = []
        for spec in self.catalog.enabled():
            if not caller.may_use(spec.id):
                continue
            cap = limits_for(caller, spec, self.settings).model
            used = per_model.get(spec.id, 0)
            row = ledger.get(spec.id)
            models.append(
                ModelUsage(
                    model=spec.id,
                    limit=cap,
                    used=used,
                    remaining=total_left if cap is None else min(total_left, max(0, cap - used)),
                    prompt_tokens=row.prompt_tokens if row else 0,
                    completion_tokens=row.completion_tokens if row else 0,
                )
            )
        return UsageToday(
            day=today,
            limit=limit,
            used=total_used,
            remaining=total_left,
            reset_at=self.quota_day.reset_at(),
            reset_in_seconds=self.quota_day.seconds_to_reset(),
            models=models,
        )

    async def ledger(self, first: date | None, last: date | None, user: str | None) -> UsageRange:
        """The ledger between two quota days (default: the last 7, today included)."""
        last = last or self.quota_day.today()
        first = first or last - timedelta(days=6)
        if first > last:
            raise InvalidRequest("from: the first day must not be after the last day (to).", param="from")
        if (last - first).days >= MAX_USAGE_DAYS:
            raise InvalidRequest(f"from: at most {MAX_USAGE_DAYS} days at a time.", param="from")
        if user is not None:
            await user_named(self.store, user)
        await self.metering.drain()  # the ledger is written in batches: include the latest calls
        return UsageRange(first, last, await self.store.usage(first, last, user))
