"""The background loops' shape: a step every interval, failures logged and survived, and a stop that
cannot be lost even when a step swallows a cancellation (as a client library did)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from openmaas import periodic
from openmaas.periodic import Periodic


async def test_steps_run_every_interval_and_a_failure_does_not_end_the_loop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    steps: list[int] = []

    async def step() -> None:
        steps.append(len(steps))
        if len(steps) == 2:
            raise RuntimeError("the store is away")

    loop = Periodic("counting", step, 0.01)
    loop.start()
    while len(steps) < 4:
        await asyncio.sleep(0.01)
    await loop.stop()
    stopped_at = len(steps)
    await asyncio.sleep(0.05)
    assert len(steps) == stopped_at  # nothing after stop
    assert "counting failed" in caplog.text


async def test_the_first_step_waits_when_asked() -> None:
    steps: list[int] = []

    async def step() -> None:
        steps.append(1)

    loop = Periodic("late", step, 0.01, first_after=60)
    loop.start()
    await asyncio.sleep(0.05)
    await loop.stop()
    assert steps == []


async def test_stop_ends_a_loop_whose_step_swallows_cancellation(monkeypatch: pytest.MonkeyPatch) -> None:
    """A step that outlasts the stop is cancelled; even if it swallows that, the loop ends."""
    monkeypatch.setattr(periodic, "STOP_SECONDS", 0.05)
    inside = asyncio.Event()
    steps: list[int] = []

    async def stubborn() -> None:
        steps.append(1)
        inside.set()
        with contextlib.suppress(asyncio.CancelledError):  # as a client library did at a shutdown
            await asyncio.sleep(60)

    loop = Periodic("stubborn", stubborn, 0.0)
    loop.start()
    await inside.wait()
    async with asyncio.timeout(5):
        await loop.stop()
    await asyncio.sleep(0.05)
    assert steps == [1]  # the loop ended: no step began after the stop


async def test_stop_before_start_is_harmless() -> None:
    await Periodic("never started", lambda: asyncio.sleep(0), 1.0).stop()
