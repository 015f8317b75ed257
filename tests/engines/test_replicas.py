"""Circuit breaker and balancing rules, on a clock the test moves."""

from __future__ import annotations

from openmaas.engines.remote.replicas import BreakerState, CircuitBreaker, Replica, ReplicaSet


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_failures_and_half_opens_for_one_probe() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, cooldown=2.0, max_cooldown=5.0, clock=clock)
    breaker.failure()
    breaker.failure()
    assert breaker.state is BreakerState.CLOSED and breaker.ready()
    breaker.failure()
    assert breaker.state is BreakerState.OPEN and not breaker.ready()
    clock.now += 2.0
    assert breaker.ready()
    breaker.begin()  # the probe
    assert breaker.state is BreakerState.HALF_OPEN and not breaker.ready()
    breaker.failure()  # the probe failed: open again, for longer
    assert breaker.state is BreakerState.OPEN and breaker.cooldown == 4.0
    clock.now += 4.0
    breaker.begin()
    breaker.failure()
    assert breaker.cooldown == 5.0  # capped
    clock.now += 5.0
    breaker.begin()
    breaker.success()
    assert breaker.state is BreakerState.CLOSED and breaker.cooldown == 2.0


def test_refused_connection_opens_at_once_and_health_checks_probe() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, cooldown=2.0, clock=clock)
    breaker.failure(immediate=True)
    assert breaker.state is BreakerState.OPEN
    breaker.health(True)  # during the cooldown a passing check changes nothing
    assert breaker.state is BreakerState.OPEN
    clock.now += 2.0
    breaker.health(True)
    assert breaker.state is BreakerState.CLOSED
    for _ in range(3):
        breaker.health(False)
    assert breaker.state is BreakerState.OPEN


def test_fewest_in_flight_wins_and_open_replicas_are_skipped() -> None:
    clock = Clock()
    a, b, c = (Replica(f"http://{n}", breaker=CircuitBreaker(clock=clock)) for n in "abc")
    replicas = ReplicaSet([a, b, c])
    a.in_flight, b.in_flight, c.in_flight = 2, 1, 1
    assert {replicas.choose().url for _ in range(4)} == {"http://b", "http://c"}  # type: ignore[union-attr]
    b.breaker.failure(immediate=True)
    assert replicas.choose() is c
    assert replicas.choose(exclude=[c]) is a
    c.breaker.failure(immediate=True)
    a.breaker.failure(immediate=True)
    assert replicas.choose() is None
    assert replicas.seconds_until_ready() == 2
