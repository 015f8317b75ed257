"""The OpenVINO engine's driver thread, on a scripted pipeline (the layer above OpenVINO itself).

What cannot be provoked on the real pipeline on demand: a step that fails, a rebuild that fails, and a
request the pipeline drops. The driver must fail the requests involved with `EngineFailure`, rebuild
the pipeline and serve the next request, or put the model out of service with a clear error.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from openmaas.domain.chat import ChatEvent, Finish, TextDelta, Usage
from openmaas.domain.errors import EngineFailure, Overloaded
from openmaas.engines.answer import AnswerText
from openmaas.engines.openvino.driver import PipelineDriver
from openmaas.engines.openvino.generation import Generation

openvino_genai = pytest.importorskip("openvino_genai")
RUNNING, FINISHED, CANCELLED = (
    openvino_genai.GenerationStatus.RUNNING,
    openvino_genai.GenerationStatus.FINISHED,
    openvino_genai.GenerationStatus.CANCEL,
)
EOS = 0


class ScriptedHandle:
    """Yields one token per step; `tokens` ends with EOS for an answer that ends by itself."""

    def __init__(self, tokens: list[int]) -> None:
        self.tokens = list(tokens)
        self.outputs: list[Any] = []
        self.status = RUNNING

    def step(self) -> None:
        if self.status != RUNNING or not self.tokens:
            return
        token = self.tokens.pop(0)
        done = token == EOS or not self.tokens
        reason = (
            openvino_genai.GenerationFinishReason.STOP if done else openvino_genai.GenerationFinishReason.NONE
        )
        self.outputs.append({0: SimpleNamespace(generated_ids=[token], finish_reason=reason)})
        if done:
            self.status = FINISHED

    def get_status(self) -> Any:
        return self.status

    def can_read(self) -> bool:
        return bool(self.outputs)

    def read(self) -> Any:
        return self.outputs.pop(0)

    def cancel(self) -> None:
        self.status = CANCELLED


class ScriptedPipeline:
    def __init__(self, answers: list[list[int]], fail_at_step: int | None = None) -> None:
        self.answers = answers
        self.fail_at_step = fail_at_step
        self.handles: list[ScriptedHandle] = []
        self.steps = 0

    def add_request(self, request_id: int, ids: Any, config: Any) -> ScriptedHandle:
        handle = ScriptedHandle(self.answers.pop(0))
        self.handles.append(handle)
        return handle

    def has_non_finished_requests(self) -> bool:
        return any(h.status == RUNNING for h in self.handles)

    def step(self) -> None:
        self.steps += 1
        if self.steps == self.fail_at_step:
            raise RuntimeError("Check 'get_num_scheduled_tokens() == 0' failed")
        for handle in self.handles:
            handle.step()

    def get_metrics(self) -> Any:
        return SimpleNamespace(scheduled_requests=sum(h.status == RUNNING for h in self.handles))


def generation(max_new_tokens: int = 50) -> Generation:
    answer = AnswerText(
        lambda ids: "".join(chr(96 + i) for i in ids), prompt_tokens=3, max_new_tokens=max_new_tokens
    )
    return Generation(
        [1, 2, 3],
        SimpleNamespace(max_new_tokens=max_new_tokens),
        answer,
        frozenset({EOS}),
        asyncio.get_running_loop(),
    )


async def events_of(item: Generation) -> list[ChatEvent]:
    events: list[ChatEvent] = []
    while not events or not isinstance(events[-1], Usage):
        outcome = await asyncio.wait_for(item.outbox.get(), 5)
        if isinstance(outcome, BaseException):
            raise outcome
        events += outcome
    return events


def driver_over(pipelines: Callable[[], Any]) -> PipelineDriver:
    driver = PipelineDriver(pipelines, "test/scripted", max_running=4, max_queue=4)
    driver.start()
    return driver


async def test_answers_come_through_with_their_end_and_usage() -> None:
    driver = driver_over(lambda: ScriptedPipeline([[1, 2, 3, EOS]]))
    try:
        item = generation()
        driver.submit(item)
        events = await events_of(item)
        assert events == [TextDelta("a"), TextDelta("b"), TextDelta("c"), Finish("stop"), Usage(3, 4)]
    finally:
        await asyncio.to_thread(driver.stop)


async def test_a_failed_step_fails_its_requests_and_the_rebuilt_pipeline_serves_the_next() -> None:
    built: list[ScriptedPipeline] = []

    def build() -> ScriptedPipeline:
        built.append(ScriptedPipeline([[1] * 40] if not built else [[2, EOS]], fail_at_step=3))
        return built[-1]

    driver = driver_over(build)
    try:
        doomed = generation()
        driver.submit(doomed)
        with pytest.raises(EngineFailure, match="failed while generating"):
            await events_of(doomed)
        after = generation()  # taken while the pipeline is rebuilt, or after
        driver.submit(after)
        assert (await events_of(after))[-2:] == [Finish("stop"), Usage(3, 2)]
        assert len(built) == 2 and built[1].handles  # the answer came from the rebuilt pipeline
    finally:
        await asyncio.to_thread(driver.stop)


async def test_when_rebuilding_fails_the_model_is_out_of_service() -> None:
    attempts: list[int] = []

    def build() -> ScriptedPipeline:
        attempts.append(1)
        if len(attempts) > 1:
            raise RuntimeError("out of memory")
        return ScriptedPipeline([[1] * 40], fail_at_step=2)

    driver = driver_over(build)
    try:
        doomed = generation()
        driver.submit(doomed)
        with pytest.raises(EngineFailure):
            await events_of(doomed)
        for _ in range(100):
            try:
                driver.submit(generation())
            except EngineFailure as refused:
                assert "out of service" in str(refused)
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the driver kept taking requests")
    finally:
        await asyncio.to_thread(driver.stop)


async def test_a_request_the_pipeline_drops_fails_instead_of_hanging() -> None:
    pipeline = ScriptedPipeline([[1] * 100_000])
    driver = driver_over(lambda: pipeline)
    try:
        item = generation(max_new_tokens=200_000)
        driver.submit(item)
        while not pipeline.handles:
            await asyncio.sleep(0.01)
        pipeline.handles[0].status = openvino_genai.GenerationStatus.IGNORED
        with pytest.raises(EngineFailure, match="dropped"):
            await events_of(item)
    finally:
        await asyncio.to_thread(driver.stop)


async def test_cancelled_requests_hold_no_place_while_the_driver_is_busy() -> None:
    # The driver withdraws a cancelled request at its next turn; a step can take long (a loaded
    # machine), and a client that retries at once must not be refused for places already given up.
    release = threading.Event()

    class SlowPipeline(ScriptedPipeline):
        def step(self) -> None:
            release.wait(5)
            super().step()

    driver = driver_over(lambda: SlowPipeline([[1] * 1000 for _ in range(17)]))
    try:
        first = [generation(max_new_tokens=2000) for _ in range(8)]  # 4 running + 4 waiting: full
        for item in first:
            driver.submit(item)
        with pytest.raises(Overloaded):
            driver.submit(generation())
        for item in first:
            driver.cancel(item)
        second = [generation(max_new_tokens=2000) for _ in range(8)]
        for item in second:
            driver.submit(item)  # the step still holds the driver: none of the first was withdrawn yet
        with pytest.raises(Overloaded):
            driver.submit(generation())
    finally:
        release.set()
        await asyncio.to_thread(driver.stop)
