"""The quota day: it starts at 00:00 in the configured time zone and nothing carries over.

The clock is injected (`Clock`), so tests can move time across midnight.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class QuotaDay:
    def __init__(self, zone: ZoneInfo, clock: Clock = system_clock) -> None:
        self.zone = zone
        self.clock = clock

    def today(self) -> date:
        return self.clock().astimezone(self.zone).date()

    def reset_at(self) -> datetime:
        """The next local midnight, as an aware datetime in the quota zone."""
        local_now = self.clock().astimezone(self.zone)
        return datetime.combine(local_now.date() + timedelta(days=1), time(0), tzinfo=self.zone)

    def seconds_to_reset(self) -> int:
        """Whole seconds until the reset, at least 1 (a Retry-After of 0 invites a busy loop)."""
        remaining = (self.reset_at() - self.clock()).total_seconds()
        return max(1, int(remaining + 0.999))


def format_duration(seconds: int) -> str:
    """OpenAI's style for `x-ratelimit-reset-requests`: `8h3m12s`, `45m0s`, `7s`."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
