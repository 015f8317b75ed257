"""The OpenVINO GenAI continuous-batching pipeline, driven by a thread of its own.

`ContinuousBatchingPipeline.step()` advances every running request by one scheduling step (a chunk of a
prompt, or one token each) and releases the GIL while it computes, so the event loop stays responsive.
Every call into the pipeline happens on the driver thread: the event loop hands requests over
(`submit`) and withdraws them (`cancel`); before each step the driver adds the new ones and cancels the
withdrawn ones (OpenVINO frees their KV blocks at the next step); after it, the driver reads what each
request's handle produced, turns the tokens into events (`Generation.take`) and hands every request's
events to the event loop in one call.

If a step fails, the pipeline's state cannot be trusted (OpenVINO's own checks fail on every later
step): every request in it fails with `EngineFailure`, and the driver builds a fresh pipeline before
taking new work (requests still waiting to be added are kept); if that fails too, the model is out of
service and says so.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from openmaas.domain.chat import ChatEvent
from openmaas.domain.errors import EngineFailure, Overloaded
from openmaas.engines.openvino.generation import Generation, Outcome

logger = logging.getLogger(__name__)

#: The longest the driver waits, after a step that produced first tokens, for them to be sent.
_FIRST_TOKEN_HANDOVER = 0.02


class PipelineDriver:
    def __init__(self, build: Callable[[], Any], name: str, *, max_running: int, max_queue: int) -> None:
        self._build = build
        self._name = name
        self._max_running = max_running
        self._room = max_running + max_queue
        self._pipeline: Any = None
        self._cond = threading.Condition()
        self._inbox: list[Generation] = []
        self._withdrawn: list[Generation] = []
        self._active: dict[int, Generation] = {}
        self._ids = itertools.count()
        self._stopping = False
        self._broken = False
        self._thread: threading.Thread | None = None
        #: What the pipeline reported after its last step (for `stats`).
        self.running = 0
        self.waiting = 0
        self.steps = 0
        self.stepped_requests = 0  # summed over steps: divided by `steps`, the average batch
        self.generated_tokens = 0

    # ---- the event loop's side ---------------------------------------------------------------------

    def start(self) -> None:
        """Build the pipeline (blocking: call it in a worker thread) and start driving it."""
        self._pipeline = self._build()
        self._thread = threading.Thread(target=self._run, name=f"openvino-{self._name}", daemon=True)
        self._thread.start()

    def submit(self, generation: Generation) -> None:
        with self._cond:
            if self._broken:
                raise EngineFailure(f"Model '{self._name}' is out of service; see the server log.")
            # A cancelled request is on its way out (the driver thread withdraws it at its next
            # turn): it holds no place against a new one.
            # (The driver thread changes `_active` outside the lock; list() copies it in one step.)
            live = sum(not g.cancelled for g in self._inbox + list(self._active.values()))
            if live >= self._room:
                raise Overloaded(
                    f"Model '{self._name}' is busy: too many requests are waiting; retry shortly."
                )
            self._inbox.append(generation)
            self._cond.notify()

    def cancel(self, generation: Generation) -> None:
        generation.cancelled = True
        with self._cond:
            self._withdrawn.append(generation)
            self._cond.notify()

    def stop(self) -> None:
        """Stop driving and release the pipeline (blocking)."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
        self._fail(list(self._active.values()) + self._inbox, EngineFailure("The model was unloaded."))
        self._pipeline = None

    @property
    def queued(self) -> int:
        return len(self._inbox) + self.waiting

    # ---- the driver thread -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not (self._stopping or self._inbox or self._withdrawn or self._pipeline_busy()):
                    self._cond.wait()
                if self._stopping or self._broken:
                    return
                inbox, self._inbox = self._inbox, []
                withdrawn, self._withdrawn = self._withdrawn, []
            for generation in withdrawn:
                self._withdraw(generation)
            for generation in inbox:
                self._add(generation, generation.prompt_ids)
            self._count()  # a request is running (or waiting in the pipeline) from its first step
            if self._pipeline_busy():
                self._step()

    def _count(self) -> None:
        """Requests in the pipeline: those beyond its batch wait for a place in it."""
        self.running = min(len(self._active), self._max_running)
        self.waiting = len(self._active) - self.running

    def _pipeline_busy(self) -> bool:
        return bool(self._active) or bool(self._pipeline.has_non_finished_requests())

    def _add(self, generation: Generation, prompt: list[int]) -> None:
        import numpy as np
        import openvino

        if generation.cancelled:
            return
        request_id = next(self._ids)
        try:
            ids = openvino.Tensor(np.asarray([prompt], dtype=np.int64))
            generation.handle = self._pipeline.add_request(request_id, ids, generation.config)
        except Exception:
            logger.exception("the pipeline of %s refused a request", self._name)
            self._deliver([(generation, EngineFailure("The model could not take the request."))])
            return
        generation.request_id = request_id
        self._active[request_id] = generation

    def _withdraw(self, generation: Generation, *, cancel: bool = True) -> None:
        """Take a request out of the active set; `cancel` tells the pipeline to drop it too."""
        if generation.request_id is None:
            return
        was_active = self._active.pop(generation.request_id, None) is not None
        if was_active and cancel:
            generation.handle.cancel()

    def _step(self) -> None:
        try:
            self._pipeline.step()
        except Exception:
            logger.exception("a step of the pipeline of %s failed; rebuilding it", self._name)
            self._recover()
            return
        self.steps += 1
        self.stepped_requests += min(len(self._active), self._max_running)
        outgoing: list[tuple[Generation, Outcome]] = []
        for generation in list(self._active.values()):
            try:
                outcome = self._collect(generation)
            except Exception:
                logger.exception("reading an answer of %s failed", self._name)
                self._withdraw(generation)
                outcome = EngineFailure("The model failed while generating.")
            if outcome:
                outgoing.append((generation, outcome))
        first_tokens = [g for g, outcome in outgoing if isinstance(outcome, list) and not g.sent.is_set()]
        self._deliver(outgoing)
        # Let the event loop send a first token before the next step takes every core again: on a
        # machine with as many cores as OpenVINO threads, it would otherwise wait a whole step.
        deadline = time.monotonic() + _FIRST_TOKEN_HANDOVER
        for generation in first_tokens:
            generation.sent.wait(max(0.0, deadline - time.monotonic()))
        self._count()

    def _collect(self, generation: Generation) -> Outcome:
        """Read a request's new tokens; retire it when it is done, continue it past a thinking budget."""
        events, ended = self._read(generation)
        if generation.needs_continuation:
            self._withdraw(generation)
            prompt, closing = generation.continuation()
            generation.config.max_new_tokens = max(1, generation.tokens_left)
            self._add(generation, prompt)
            return events + closing
        if generation.finished or ended:
            # A stop string can end the answer while the pipeline still runs it: free it at once.
            self._withdraw(generation, cancel=not ended)
            if not generation.finished:
                return EngineFailure("The model dropped the request.")
        return events

    def _read(self, generation: Generation) -> tuple[list[ChatEvent], bool]:
        """The events of the request's new tokens, and whether the pipeline is done with it."""
        import openvino_genai

        handle = generation.handle
        events: list[ChatEvent] = []
        status = handle.get_status()  # before reading, so no output is left behind once it says done
        while handle.can_read():
            for output in handle.read().values():
                tokens = list(output.generated_ids)
                self.generated_tokens += len(tokens)
                events += generation.take(tokens)
                if output.finish_reason == openvino_genai.GenerationFinishReason.LENGTH:
                    events += generation.answer.finish("length")
                elif output.finish_reason == openvino_genai.GenerationFinishReason.STOP:
                    events += generation.answer.finish("stop")
        ended = status != openvino_genai.GenerationStatus.RUNNING
        if status == openvino_genai.GenerationStatus.FINISHED:
            events += generation.answer.finish("length")  # done without saying why: it hit its limit
        return events, ended

    def _recover(self) -> None:
        failed = list(self._active.values())
        self._active.clear()
        self._fail(failed, EngineFailure("The model failed while generating."))
        try:
            self._pipeline = self._build()
        except Exception:
            logger.exception("rebuilding the pipeline of %s failed; the model is out of service", self._name)
            with self._cond:
                self._broken = True
                waiting, self._inbox = self._inbox, []
            self._fail(waiting, EngineFailure(f"Model '{self._name}' is out of service; see the server log."))

    def _fail(self, generations: list[Generation], error: BaseException) -> None:
        self._deliver([(generation, error) for generation in generations if not generation.finished])

    def _deliver(self, outgoing: list[tuple[Generation, Outcome]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Generation, Outcome]]] = {}
        for generation, outcome in outgoing:
            by_loop.setdefault(generation.loop, []).append((generation, outcome))
        for loop, batch in by_loop.items():
            try:
                loop.call_soon_threadsafe(_put, batch)
            except RuntimeError:  # that loop is closed: nobody waits for these any more
                continue


def _put(batch: list[tuple[Generation, Outcome]]) -> None:
    for generation, outcome in batch:
        generation.outbox.put_nowait(outcome)
