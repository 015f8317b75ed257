"""Replicas of one model behind a remote engine: load balancing and circuit breaking.

A request goes to the available replica with the fewest requests in flight (ties taken in turn, so
idle replicas share the requests evenly). Each replica has a circuit breaker:

- closed: requests flow. `threshold` failures in a row (5xx, 429, timeouts, failed health checks) open
  it; a refused connection opens it at once (nothing listens there any more).
- open: no requests for `cooldown` seconds (doubling on each failed probe, up to `max_cooldown`).
- half-open: after the cooldown one request, or the next health check, is the probe: success closes
  the breaker, failure opens it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum

Clock = Callable[[], float]


class BreakerState(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    def __init__(
        self,
        *,
        threshold: int = 3,
        cooldown: float = 2.0,
        max_cooldown: float = 60.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.base_cooldown = cooldown
        self.max_cooldown = max_cooldown
        self.clock = clock
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.cooldown = cooldown
        self.opened_at = 0.0

    def ready(self) -> bool:
        """May a request go here now? (Does not change the state; `begin` does.)"""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            return self.clock() - self.opened_at >= self.cooldown
        return False  # half-open: its one probe is in flight

    def begin(self) -> None:
        """A request is sent; after the cooldown of an open breaker it is the probe."""
        if self.state is BreakerState.OPEN:
            self.state = BreakerState.HALF_OPEN

    def success(self) -> None:
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.cooldown = self.base_cooldown

    def failure(self, *, immediate: bool = False) -> None:
        if self.state is BreakerState.HALF_OPEN:
            self._open(min(self.max_cooldown, self.cooldown * 2))
            return
        if self.state is BreakerState.OPEN:
            return
        self.failures += 1
        if immediate or self.failures >= self.threshold:
            self._open(self.base_cooldown)

    def health(self, healthy: bool) -> None:
        """A health check's verdict. A passing check is the probe of an open breaker past its cooldown;
        during the cooldown it changes nothing."""
        if healthy:
            if self.state is BreakerState.CLOSED or self.ready() or self.state is BreakerState.HALF_OPEN:
                self.success()
        elif self.state is BreakerState.OPEN and self.ready():
            self._open(min(self.max_cooldown, self.cooldown * 2))
        else:
            self.failure()

    def _open(self, cooldown: float) -> None:
        self.state = BreakerState.OPEN
        self.cooldown = cooldown
        self.opened_at = self.clock()
        self.failures = 0


@dataclass(eq=False)
class Replica:
    """One place that serves the model: a worker or an upstream base URL."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    in_flight: int = 0
    #: Who registered it (a worker id), for replacing replicas when the worker directory changes.
    owner: str = ""


class ReplicaSet:
    def __init__(self, replicas: Iterable[Replica] = ()) -> None:
        self.replicas: list[Replica] = list(replicas)
        self._turn = 0

    def choose(self, exclude: Iterable[Replica] = ()) -> Replica | None:
        """The ready replica with the fewest requests in flight, or None when none is ready."""
        excluded = set(map(id, exclude))
        ready = [r for r in self.replicas if id(r) not in excluded and r.breaker.ready()]
        if not ready:
            return None
        fewest = min(r.in_flight for r in ready)
        tied = [r for r in ready if r.in_flight == fewest]
        self._turn += 1
        chosen = tied[self._turn % len(tied)]
        chosen.breaker.begin()
        return chosen

    def seconds_until_ready(self) -> int:
        """For Retry-After when every replica is out: the shortest remaining cooldown (at least 1)."""
        waits = [
            r.breaker.cooldown - (r.breaker.clock() - r.breaker.opened_at)
            for r in self.replicas
            if r.breaker.state is BreakerState.OPEN
        ]
        return max(1, int(min(waits, default=1) + 0.999))

    @property
    def in_flight(self) -> int:
        return sum(r.in_flight for r in self.replicas)
