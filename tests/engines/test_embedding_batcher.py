"""The dynamic batcher on its own, with a recording `run` in place of a model (no torch)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from openmaas.domain.errors import EngineFailure, Overloaded
from openmaas.engines.embeddings.batcher import DynamicBatcher

LONG_WAIT = 60.0  # a window no test reaches: batches close because they are full, or not at all


class Recorder:
    """Answers each sequence with its sum; remembers every batch; can hold the worker thread."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[int, ...]]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.fail = False

    def __call__(self, batch: list[Sequence[int]]) -> list[int]:
        self.entered.set()
        self.gate.wait(30)
        self.batches.append([tuple(seq) for seq in batch])
        if self.fail:
            raise RuntimeError("boom")
        return [sum(seq) for seq in batch]


def batcher_for(
    run: Recorder,
    *,
    size: int = 4,
    tokens: int = 10_000,
    wait: float = 0.0,
    queued: int = 1000,
) -> DynamicBatcher[int]:
    batcher: DynamicBatcher[int] = DynamicBatcher(
        run, max_batch_size=size, max_batch_tokens=tokens, max_wait=wait, max_queued=queued, name="test/b"
    )
    batcher.start()
    return batcher


async def until(condition, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


async def test_concurrent_requests_share_one_batch_when_it_fills() -> None:
    run = Recorder()
    batcher = batcher_for(run, size=4, wait=LONG_WAIT)
    try:
        results = await asyncio.gather(*(batcher.submit([(i, 1)]) for i in range(4)))
        assert results == [[1], [2], [3], [4]]
        assert len(run.batches) == 1 and sorted(run.batches[0]) == [(0, 1), (1, 1), (2, 1), (3, 1)]
        assert (batcher.batches, batcher.batched_requests) == (1, 4)
    finally:
        await batcher.close()


async def test_a_lone_request_runs_after_the_window() -> None:
    run = Recorder()
    batcher = batcher_for(run, size=8, wait=0.01)
    try:
        assert await batcher.submit([(5,), (6, 1)]) == [5, 7]
        assert run.batches == [[(5,), (6, 1)]]
    finally:
        await batcher.close()


async def test_requests_arriving_during_a_batch_form_the_next_one() -> None:
    run = Recorder()
    batcher = batcher_for(run, size=8, wait=0.0)
    try:
        run.gate.clear()
        first = asyncio.ensure_future(batcher.submit([(1,)]))
        await until(run.entered.is_set)
        later = [asyncio.ensure_future(batcher.submit([(i,)])) for i in range(2, 7)]
        await until(lambda: batcher.queued == 5)
        run.gate.set()
        assert await first == [1]
        assert [await f for f in later] == [[2], [3], [4], [5], [6]]
        assert run.batches == [[(1,)], [(2,), (3,), (4,), (5,), (6,)]]
    finally:
        await batcher.close()


async def test_a_large_request_shares_batches_round_robin() -> None:
    run = Recorder()
    batcher = batcher_for(run, size=4, wait=0.0)
    try:
        run.gate.clear()
        blocker = asyncio.ensure_future(batcher.submit([(0,)]))
        await until(run.entered.is_set)
        big = asyncio.ensure_future(batcher.submit([(100 + i,) for i in range(10)]))
        small = asyncio.ensure_future(batcher.submit([(7,)]))
        await until(lambda: batcher.queued == 11)
        run.gate.set()
        await blocker
        assert await small == [7]
        assert await big == [100 + i for i in range(10)]
        # The small request rides in the first batch after the blocker, not after the big one.
        assert run.batches[1] == [(100,), (7,), (101,), (102,)]
        assert [len(b) for b in run.batches[2:]] == [4, 3]
    finally:
        await batcher.close()


async def test_padded_tokens_bound_a_batch() -> None:
    run = Recorder()
    batcher = batcher_for(run, size=100, tokens=8, wait=LONG_WAIT)
    try:
        # Three inputs of 3 tokens would pad to 9 > 8: a batch of two is full, one alone is not.
        first = asyncio.ensure_future(batcher.submit([(1, 1, 1), (2, 2, 2), (3, 3, 3)]))
        await until(lambda: len(run.batches) == 1)
        assert run.batches[0] == [(1, 1, 1), (2, 2, 2)]
        assert batcher.queued == 1  # waits for company within the (long) window
        second = asyncio.ensure_future(batcher.submit([(4, 4)]))  # 2 x 3 tokens: full again
        assert await first == [3, 6, 9]
        assert await second == [8]
        assert run.batches[1:] == [[(3, 3, 3), (4, 4)]]
    finally:
        await batcher.close()


async def test_one_input_over_the_token_budget_still_runs() -> None:
    run = Recorder()
    batcher = batcher_for(run, size=4, tokens=2)
    try:
        assert await batcher.submit([(1, 2, 3, 4)]) == [10]
    finally:
        await batcher.close()


async def test_a_cancelled_request_is_dropped_from_the_queue() -> None:
    run = Recorder()
    batcher = batcher_for(run, size=8, wait=0.0)
    try:
        run.gate.clear()
        blocker = asyncio.ensure_future(batcher.submit([(1,)]))
        await until(run.entered.is_set)
        gone = asyncio.ensure_future(batcher.submit([(2,), (3,)]))
        kept = asyncio.ensure_future(batcher.submit([(4,)]))
        await until(lambda: batcher.queued == 3)
        gone.cancel()
        run.gate.set()
        await blocker
        assert await kept == [4]
        assert run.batches[1] == [(4,)]
    finally:
        await batcher.close()


async def test_a_full_queue_refuses_new_requests() -> None:
    run = Recorder()
    batcher = batcher_for(run, size=2, queued=3)
    try:
        run.gate.clear()
        blocker = asyncio.ensure_future(batcher.submit([(1,)]))
        await until(run.entered.is_set)
        waiting = asyncio.ensure_future(batcher.submit([(2,), (3,)]))
        await until(lambda: batcher.queued == 2)
        with pytest.raises(Overloaded):
            await batcher.submit([(4,), (5,)])
        run.gate.set()
        assert await waiting == [2, 3]
        await blocker
        # An oversized request is taken when nothing waits.
        assert await batcher.submit([(i,) for i in range(5)]) == list(range(5))
    finally:
        await batcher.close()


async def test_a_failing_batch_fails_its_requests_and_the_batcher_goes_on() -> None:
    run = Recorder()
    batcher = batcher_for(run, size=4)
    try:
        run.fail = True
        with pytest.raises(EngineFailure, match="failed to embed"):
            await batcher.submit([(1,)])
        run.fail = False
        assert await batcher.submit([(2,)]) == [2]
    finally:
        await batcher.close()


async def test_close_fails_waiting_requests() -> None:
    run = Recorder()
    batcher = batcher_for(run, size=4, wait=LONG_WAIT)
    waiting = asyncio.ensure_future(batcher.submit([(1,)]))
    await until(lambda: batcher.queued == 1)
    await batcher.close()
    with pytest.raises(Overloaded):
        await waiting
    with pytest.raises(Overloaded):
        await batcher.submit([(1,)])
