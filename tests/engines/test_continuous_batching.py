"""Continuous batching on the tiny model: joining a running batch, leaving it, cancelling, overload."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any, cast

import pytest

from openmaas.domain.chat import ChatEvent, ChatRequest, TextDelta
from openmaas.domain.errors import EngineFailure, Overloaded
from openmaas.domain.models import ModelSpec
from openmaas.engines.base import EngineContext
from openmaas.engines.transformers import TransformersChatEngine
from openmaas.weights import WeightsResolver
from tests.engines.helpers import ask, collect, text_of
from tests.tiny_models import build_tiny_chat_model


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


class Recorder:
    """Runs requests concurrently and records the global order of their events."""

    def __init__(self, engine: TransformersChatEngine) -> None:
        self.engine = engine
        self.log: list[tuple[str, str]] = []
        self.counts: dict[str, int] = {}

    async def run(self, name: str, request: ChatRequest) -> list[ChatEvent]:
        events: list[ChatEvent] = []
        async for event in self.engine.stream(request):
            self.log.append((name, type(event).__name__))
            self.counts[name] = self.counts.get(name, 0) + 1
            events.append(event)
        return events

    def first(self, name: str, kind: str) -> int:
        return self.log.index((name, kind))

    async def started(self, name: str, events: int = 3) -> None:
        await eventually(lambda: self.counts.get(name, 0) >= events)


async def test_a_newcomer_joins_the_running_batch(tiny_engine: TransformersChatEngine) -> None:
    long_request = ask("Write about cats and dogs", max_tokens=200)
    short_request = ask("Numbers please", max_tokens=15)
    solo_long = text_of(await collect(tiny_engine.stream(long_request)))
    solo_short = text_of(await collect(tiny_engine.stream(short_request)))

    recorder = Recorder(tiny_engine)
    first = asyncio.create_task(recorder.run("long", long_request))
    await recorder.started("long")
    second = asyncio.create_task(recorder.run("short", short_request))
    long_events, short_events = await asyncio.gather(first, second)

    assert recorder.first("short", "TextDelta") < recorder.first("long", "Finish")
    assert recorder.first("short", "Finish") < recorder.first("long", "Finish")
    assert text_of(long_events) == solo_long
    assert text_of(short_events) == solo_short


async def test_rows_joining_and_leaving_keep_every_answer_intact(tiny_engine: TransformersChatEngine) -> None:
    """Prompts of different lengths join at different times (the cache shifts and grows past its first
    capacity) and leave from the middle of the batch; each answer equals its solo run."""
    requests = {
        "a": ask("Hi", max_tokens=300),
        "b": ask("The capital of France is Paris, and the capital of Italy is Rome. " * 4, max_tokens=40),
        "c": ask("A cat sat on the mat", max_tokens=8),
        "d": ask("Numbers: 0 1 2 3", max_tokens=60),
    }
    solo = {name: text_of(await collect(tiny_engine.stream(r))) for name, r in requests.items()}

    recorder = Recorder(tiny_engine)
    tasks = {"a": asyncio.create_task(recorder.run("a", requests["a"]))}
    await recorder.started("a", 4)
    tasks["b"] = asyncio.create_task(recorder.run("b", requests["b"]))
    tasks["c"] = asyncio.create_task(recorder.run("c", requests["c"]))
    await recorder.started("c", 2)
    tasks["d"] = asyncio.create_task(recorder.run("d", requests["d"]))
    results = dict(zip(tasks, await asyncio.gather(*tasks.values()), strict=True))

    assert recorder.first("d", "TextDelta") < recorder.first("a", "Finish")
    for name, events in results.items():
        assert text_of(events) == solo[name], name


async def test_closing_the_stream_frees_the_row_at_once(tiny_engine: TransformersChatEngine) -> None:
    batcher = tiny_engine._batcher
    assert batcher is not None
    stream = cast(AsyncGenerator[ChatEvent, None], tiny_engine.stream(ask("Go on and on", max_tokens=400)))
    assert isinstance(await anext(stream), TextDelta)
    assert tiny_engine.stats().running == 1
    await stream.aclose()
    assert tiny_engine.stats().running == 0
    await eventually(lambda: batcher.active_rows == 0, timeout=2.0)
    steps = batcher.steps
    await asyncio.sleep(0.05)
    assert batcher.steps == steps  # the generation thread stopped decoding for it


async def test_a_cancelled_consumer_task_stops_generation(tiny_engine: TransformersChatEngine) -> None:
    batcher = tiny_engine._batcher
    assert batcher is not None
    recorder = Recorder(tiny_engine)
    task = asyncio.create_task(recorder.run("gone", ask("Go on and on", max_tokens=400)))
    await recorder.started("gone")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert tiny_engine.stats().running == 0
    await eventually(lambda: batcher.active_rows == 0, timeout=2.0)


async def test_a_request_cancelled_while_queued_never_runs(make_tiny_engine: Any) -> None:
    engine = make_tiny_engine(max_batch_size=1, max_queue=4)
    await engine.start()
    try:
        batcher = engine._batcher
        recorder = Recorder(engine)
        running = asyncio.create_task(recorder.run("running", ask("Long answer", max_tokens=150)))
        await recorder.started("running")
        queued = asyncio.create_task(recorder.run("queued", ask("Never", max_tokens=5)))
        await eventually(lambda: engine.stats().queued == 1)
        admitted = batcher.admitted
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
        assert engine.stats().queued == 0
        await running
        assert batcher.admitted == admitted
        assert "queued" not in recorder.counts
    finally:
        await engine.close()


async def test_a_full_queue_is_overloaded(make_tiny_engine: Any) -> None:
    engine = make_tiny_engine(max_batch_size=1, max_queue=1)
    await engine.start()
    try:
        recorder = Recorder(engine)
        running = asyncio.create_task(recorder.run("running", ask("Long answer", max_tokens=100)))
        await recorder.started("running")
        waiting = asyncio.create_task(recorder.run("waiting", ask("Short", max_tokens=3)))
        await eventually(lambda: engine.stats().queued == 1)
        with pytest.raises(Overloaded):
            engine.stream(ask("One too many"))
        await asyncio.gather(running, waiting)
        assert engine.stats().queued == engine.stats().running == 0
    finally:
        await engine.close()


async def test_a_failed_step_fails_its_requests_and_the_engine_keeps_serving(make_tiny_engine: Any) -> None:
    engine = make_tiny_engine()
    await engine.start()
    try:
        runner = engine._batcher._runner
        for method in ("decode", "prefill"):
            original = getattr(runner, method)

            def broken(*args: Any, _original: Any = original, _method: str = method) -> Any:
                setattr(runner, _method, _original)  # fail once
                raise RuntimeError("simulated failure")

            setattr(runner, method, broken)
            with pytest.raises(EngineFailure):
                await collect(engine.stream(ask("This one fails", max_tokens=10)))
            healthy = await collect(engine.stream(ask("This one works", max_tokens=10)))
            assert len(text_of(healthy)) > 0
            assert engine.stats().running == 0
    finally:
        await engine.close()


async def test_stream_before_start_is_overloaded(make_tiny_engine: Any) -> None:
    engine = make_tiny_engine()
    with pytest.raises(Overloaded):
        engine.stream(ask("too early"))


async def test_a_qwen2_model_batches_like_it_runs_alone(tmp_path: Path) -> None:
    folder = build_tiny_chat_model(tmp_path / "qwen2", architecture="qwen2")
    spec = ModelSpec(
        id="test/tiny-qwen2",
        task="chat",
        engine="transformers",
        weights=str(folder),
        options={"dtype": "float32"},
    )
    engine = TransformersChatEngine(
        spec, EngineContext(tmp_path / "cache", WeightsResolver(tmp_path).resolve)
    )
    await engine.start()
    try:
        requests = [
            ask(text, model=spec.id, max_tokens=tokens) for text, tokens in [("Hi", 40), ("A cat sat", 12)]
        ]
        solo = [text_of(await collect(engine.stream(r))) for r in requests]
        together = await asyncio.gather(*(collect(engine.stream(r)) for r in requests))
        assert [text_of(events) for events in together] == solo
    finally:
        await engine.close()


async def test_events_reach_the_loop_in_one_hand_off_per_step(
    tiny_engine: TransformersChatEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()
    hand_offs = 0
    original = loop.call_soon_threadsafe

    def counting(callback: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal hand_offs
        hand_offs += 1
        return original(callback, *args, **kwargs)

    monkeypatch.setattr(loop, "call_soon_threadsafe", counting)
    batcher = tiny_engine._batcher
    assert batcher is not None
    steps = batcher.steps
    results = await asyncio.gather(
        *(collect(tiny_engine.stream(ask(f"Row {i}", max_tokens=30))) for i in range(4))
    )
    events = sum(len(r) for r in results)
    assert events > 4 * 20
    assert hand_offs <= (batcher.steps - steps) + 4  # one per decode step, plus the prefill steps
