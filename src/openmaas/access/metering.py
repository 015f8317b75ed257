"""Daily call quotas: reserve one call before running a model, settle or give it back afterwards.

A call is counted when it is accepted (valid, allowed, within both limits). It is given back when it
then fails on our side or turns out invalid once the engine sees it, so that only calls that produced
an answer (even one cut short by the client) count.

The usage ledger (calls and tokens per user, model and day) always agrees with the counters on calls:
a call is written to it when it is reserved and taken out again when it is given back, in the counter's
own transaction when the counters live in the ledger's database (`QuotaCounter.records_calls`), else
right after it, group-committed (`call_ledger.py`; Redis counters: only a crash between those two
writes could set them apart, and a call whose ledger write fails is given back with a 503). So a
process killed at any moment loses no call from the ledger. Token counts follow after the answer, off
the response path, in batches: the tokens of the last `LEDGER_INTERVAL` seconds are summed per user,
day and model and written together (one upsert per row instead of a transaction per call).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import date

from openmaas.access.call_ledger import CallLedger
from openmaas.access.clock import QuotaDay, format_duration
from openmaas.domain.accounts import Caller, User
from openmaas.domain.chat import Usage
from openmaas.domain.errors import Overloaded, QuotaExceeded
from openmaas.domain.models import ModelSpec
from openmaas.settings import Settings
from openmaas.store.base import QuotaCounter, QuotaState, RecordStore

log = logging.getLogger(__name__)

#: Seconds between two writes of the usage ledger.
LEDGER_INTERVAL = 0.5


@dataclass(frozen=True, slots=True)
class Limits:
    """Calls per day: across models, and on each model (None: no cap)."""

    total: int
    model: int | None


def user_limits(user: User, settings: Settings) -> Limits:
    """The user's limits in force: their own, else the server's defaults (the one place they are worked
    out: metering, the admin API, the CLI and `/v1/usage` all read them here)."""
    return Limits(
        total=user.daily_limit if user.daily_limit is not None else settings.default_daily_limit,
        model=(
            user.model_daily_limit
            if user.model_daily_limit is not None
            else settings.default_model_daily_limit
        ),
    )


def limits_for(caller: Caller, spec: ModelSpec, settings: Settings) -> Limits:
    """The user's limit across models, and the tightest per-model cap that applies (user or model)."""
    limits = user_limits(caller.user, settings)
    caps = [cap for cap in (limits.model, spec.daily_cap) if cap is not None]
    return Limits(total=limits.total, model=min(caps) if caps else None)


def quota_headers(state: QuotaState, seconds_to_reset: int) -> dict[str, str]:
    total_left = max(0, state.total_limit - state.total_used)
    if state.model_limit is None:
        model_limit, model_left = state.total_limit, total_left
    else:
        model_limit, model_left = (
            state.model_limit,
            min(total_left, max(0, state.model_limit - state.model_used)),
        )
    return {
        "modelscope-ratelimit-requests-limit": str(state.total_limit),
        "modelscope-ratelimit-requests-remaining": str(total_left),
        "modelscope-ratelimit-model-requests-limit": str(model_limit),
        "modelscope-ratelimit-model-requests-remaining": str(model_left),
        "x-ratelimit-limit-requests": str(state.total_limit),
        "x-ratelimit-remaining-requests": str(total_left),
        "x-ratelimit-reset-requests": format_duration(seconds_to_reset),
    }


class Ticket:
    """One reserved call. Exactly one of `settle` or `refund` should follow; later calls do nothing."""

    def __init__(
        self, metering: Metering, caller: Caller, model: str, day: date, headers: dict[str, str]
    ) -> None:
        self._metering = metering
        self.caller = caller
        self.model = model
        self.day = day
        self.headers = headers
        self._done = False

    def settle(self, usage: Usage) -> None:
        """The call produced an answer: write its tokens to the ledger in the background."""
        if self._done:
            return
        self._done = True
        self._metering.record_in_background(self, usage)

    async def refund(self) -> None:
        """The call failed on our side (or was invalid after all): give the call back."""
        if self._done:
            return
        self._done = True
        await self._metering.give_back(self.caller.user.id, self.day, self.model)


class Metering:
    def __init__(
        self, counter: QuotaCounter, ledger: RecordStore, settings: Settings, quota_day: QuotaDay
    ) -> None:
        self.counter = counter
        self.ledger = ledger
        self.settings = settings
        self.quota_day = quota_day
        self._unwritten: dict[tuple[int, date, str], list[int]] = {}  # key -> [prompt, completion]
        self._writer: asyncio.Task[None] | None = None
        self._write_now = asyncio.Event()
        self._calls = CallLedger(ledger)

    async def reserve(self, caller: Caller, spec: ModelSpec) -> Ticket:
        """Count one call for `caller` on `spec`, or raise `QuotaExceeded` (429) naming the limit."""
        limits = limits_for(caller, spec, self.settings)
        today = self.quota_day.today()
        seconds = self.quota_day.seconds_to_reset()
        state = await self.counter.reserve(
            caller.user.id,
            today,
            spec.id,
            total_limit=limits.total,
            model_limit=limits.model,
            ttl_seconds=seconds,
        )
        headers = quota_headers(state, seconds)
        if not state.accepted:
            raise self._exceeded(caller, spec, state, seconds, headers)
        if not self.counter.records_calls:
            try:
                await self._calls.add(caller.user.id, today, spec.id, 1)
            except Exception as exc:
                log.exception("could not write a call to the usage ledger; it is given back")
                await self.counter.release(caller.user.id, today, spec.id)
                raise Overloaded("The usage ledger is unavailable; retry shortly.", retry_after=2) from exc
        return Ticket(self, caller, spec.id, today, headers)

    async def give_back(self, user_id: int, day: date, model: str) -> None:
        """Take back one reserved call: from the counters and from the ledger."""
        await self.counter.release(user_id, day, model)
        if not self.counter.records_calls:
            await self._calls.add(user_id, day, model, -1)

    def _exceeded(
        self, caller: Caller, spec: ModelSpec, state: QuotaState, seconds: int, headers: dict[str, str]
    ) -> QuotaExceeded:
        reset = self.quota_day.reset_at().isoformat()
        if state.limit == "model":
            message = (
                f"Daily limit of {state.model_limit} calls to model {spec.id!r} reached for user "
                f"{caller.user.name!r}; it resets at {reset} (in {seconds} s)."
            )
        else:
            message = (
                f"Daily limit of {state.total_limit} calls (all models) reached for user "
                f"{caller.user.name!r}; it resets at {reset} (in {seconds} s)."
            )
        error = QuotaExceeded(message, retry_after=seconds, limit=state.limit or "daily")
        error.headers.update(headers)
        return error

    def record_in_background(self, ticket: Ticket, usage: Usage) -> None:
        key = (ticket.caller.user.id, ticket.day, ticket.model)
        if not usage.prompt_tokens and not usage.completion_tokens:
            return
        row = self._unwritten.get(key)
        if row is None:
            self._unwritten[key] = [usage.prompt_tokens, usage.completion_tokens]
        else:
            row[0] += usage.prompt_tokens
            row[1] += usage.completion_tokens
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write_soon())

    async def _write_soon(self) -> None:
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._write_now.wait(), LEDGER_INTERVAL)
            await self._write()
        finally:
            self._writer = None

    async def _write(self) -> None:
        batch, self._unwritten = self._unwritten, {}
        for (user_id, day, model), (prompt_tokens, completion_tokens) in batch.items():
            try:
                await self.ledger.record_usage(
                    user_id,
                    day,
                    model,
                    calls=0,
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                )
            except Exception:
                log.exception("could not record usage", extra={"model": model})

    async def drain(self) -> None:
        """Write what the ledger has not received yet (at shutdown, or when a reader needs it now)."""
        writer = self._writer
        if writer is not None:
            self._write_now.set()
            await writer
            self._write_now.clear()
        await self._write()
