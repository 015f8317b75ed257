"""Continuous batching: one generation thread owns the model and steps every active request together.

Requests wait in a bounded FIFO queue. At each step the thread

1. drops the rows of requests whose consumer went away (cancelled),
2. admits waiting requests into free rows: their prompts are prefilled together (left-padded, within a
   token budget) straight into the shared KV cache, and their first token is chosen, so a newcomer
   JOINS the running batch instead of waiting for it to finish; a prompt with images is prefilled on
   its own step (with its pixel inputs), so the running rows wait for at most one prefill,
3. decodes one token for every active row in a single forward pass and samples all rows at once,
4. turns each row's token into events (text, finish, usage), retires finished rows, and hands all the
   step's events to the event loop with one `call_soon_threadsafe` per loop.

A failure while prefilling fails only the newcomers; a failure in a decode step fails the rows of that
step (the cache may be inconsistent, so it is reset); either way the thread keeps serving. Requests
cancelled while waiting are removed from the queue at once and never run.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Collection

import torch

from openmaas.domain.errors import EngineFailure, Overloaded
from openmaas.engines.detokenize import Decode
from openmaas.engines.transformers.job import Job, Outcome, deliver
from openmaas.engines.transformers.runner import ModelRunner
from openmaas.engines.transformers.sampling import BatchSampler

logger = logging.getLogger(__name__)


class Batcher:
    def __init__(
        self,
        runner: ModelRunner,
        sampler: BatchSampler,
        *,
        decode: Decode,
        eos_ids: Collection[int],
        max_batch_size: int,
        max_queue: int,
        max_prefill_tokens: int,
        name: str = "model",
    ) -> None:
        self._runner = runner
        self._sampler = sampler
        self._decode = decode
        self._eos_ids = frozenset(eos_ids)
        self._max_rows = max_batch_size
        self._max_queue = max_queue
        self._prefill_budget = max_prefill_tokens
        self._name = name
        self._lock = threading.Condition()
        self._waiting: deque[Job] = deque()
        self._running: set[Job] = set()
        self._stopping = False
        self._active: list[Job] = []  # row i of the batch is _active[i]; generation thread only
        self._outgoing: list[tuple[Job, Outcome]] = []
        self._thread = threading.Thread(target=self._serve, name=f"openmaas-generate[{name}]", daemon=True)
        self.steps = 0  # decode steps run (for metrics and tests)
        self.admitted = 0  # requests that got a row

    # ---- event-loop side ----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the thread; requests still waiting or running fail with `EngineFailure`."""
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def queued(self) -> int:
        return len(self._waiting)

    @property
    def active_rows(self) -> int:
        """Rows the generation thread holds (a cancelled request keeps its row until the next step)."""
        return len(self._active)

    @property
    def full(self) -> bool:
        """Whether one more request would be refused."""
        return len(self._waiting) + len(self._running) >= self._max_rows + self._max_queue

    @property
    def running(self) -> int:
        return len(self._running)

    def submit(self, job: Job) -> None:
        with self._lock:
            if self._stopping:
                raise EngineFailure(f"Model '{self._name}' is shutting down.")
            if self.full:
                raise Overloaded(
                    f"Model '{self._name}' is busy: too many requests are waiting; retry shortly."
                )
            self._waiting.append(job)
            self._lock.notify_all()

    def cancel(self, job: Job) -> None:
        """The consumer went away: free the job's place now (its row goes at the next step)."""
        with self._lock:
            job.cancelled = True
            if job in self._waiting:
                self._waiting.remove(job)
            self._running.discard(job)

    # ---- generation thread --------------------------------------------------------------------------

    def _serve(self) -> None:
        with torch.inference_mode():
            while self._next_step():
                try:
                    self._step()
                except Exception:  # a bug outside the guarded phases: fail the batch, keep serving
                    logger.exception("generation step failed for model %s", self._name)
                    self._fail_active("The model failed while generating.")
                self._flush()
            self._shutdown()

    def _next_step(self) -> bool:
        """Wait until there is work; False when stopping."""
        with self._lock:
            while not self._stopping and not self._waiting and not self._active:
                self._lock.wait()
            return not self._stopping

    def _step(self) -> None:
        self._drop_cancelled()
        newcomers = self._take_newcomers()
        if newcomers:
            self._admit(newcomers)
            self._retire_finished()
        if self._active:
            self._decode_step()
            self._retire_finished()

    def _take_newcomers(self) -> list[Job]:
        taken: list[Job] = []
        width = 0
        with self._lock:
            while self._waiting and len(self._active) + len(taken) < self._max_rows:
                job = self._waiting[0]
                wider = max(width, len(job.prompt_ids))
                if taken and (job.vision is not None or wider * (len(taken) + 1) > self._prefill_budget):
                    break
                self._waiting.popleft()
                self._running.add(job)
                taken.append(job)
                width = wider
                if job.vision is not None:
                    break
        return taken

    def _prefill(self, jobs: list[Job]) -> tuple[int, torch.Tensor]:
        vision = jobs[0].vision
        if vision is None:
            return self._runner.prefill([job.prompt_ids for job in jobs])
        jobs[0].vision = None  # the pixel inputs are not needed any more
        return self._runner.prefill_vision(vision)

    def _admit(self, jobs: list[Job]) -> None:
        try:
            first, logits = self._prefill(jobs)
        except Exception:
            logger.exception("prefill failed for model %s", self._name)
            for job in jobs:
                self._release(job, EngineFailure("The model failed to read the prompt."))
            return
        self.admitted += len(jobs)
        for job in jobs:
            job.begin(self._decode)
            self._sampler.reset_row(
                len(self._active), job.prompt_ids if job.sampling.repeats_penalized else ()
            )
            self._active.append(job)
        self._sampler.configure([job.sampling for job in self._active])
        self._choose(first, logits, jobs)

    def _decode_step(self) -> None:
        try:
            logits = self._runner.decode()
        except Exception:
            logger.exception("decode step failed for model %s", self._name)
            self._fail_active("The model failed while generating.")
            return
        self.steps += 1
        self._choose(0, logits, list(self._active))

    def _choose(self, first: int, logits: torch.Tensor, jobs: list[Job]) -> None:
        """Sample the next token of rows first.., feed it back, and turn it into each job's events."""
        uniforms = [0.0 if job.sampling.greedy else job.uniform() for job in jobs]
        tokens = self._sampler.sample(logits, first, uniforms, [job.generated for job in jobs])
        self._sampler.record(first, tokens)
        self._runner.set_last_tokens(first, tokens)
        for job, token in zip(jobs, tokens.tolist(), strict=True):
            try:
                events = job.advance(token, self._eos_ids)
            except Exception:
                logger.exception("post-processing a token failed for model %s", self._name)
                job.finished = True
                self._outgoing.append((job, EngineFailure("The model failed while generating.")))
                continue
            if events:
                self._outgoing.append((job, events))

    def _drop_cancelled(self) -> None:
        for row in range(len(self._active) - 1, -1, -1):
            if self._active[row].cancelled:
                self._remove_row(row)

    def _retire_finished(self) -> None:
        for row in range(len(self._active) - 1, -1, -1):
            job = self._active[row]
            if job.finished:
                self._remove_row(row)
                self._release(job, None)

    def _remove_row(self, row: int) -> None:
        last = len(self._active) - 1
        self._runner.remove_row(row)
        if row != last:
            self._sampler.move_row(last, row)
        self._active[row] = self._active[last]
        self._active.pop()
        self._sampler.configure([job.sampling for job in self._active])

    def _release(self, job: Job, error: BaseException | None) -> None:
        with self._lock:
            self._running.discard(job)
        if error is not None:
            job.finished = True
            self._outgoing.append((job, error))

    def _fail_active(self, message: str) -> None:
        jobs, self._active = self._active, []
        self._runner.reset()
        self._sampler.configure([])
        for job in jobs:
            self._release(job, EngineFailure(message))

    def _flush(self) -> None:
        """Hand this step's events to the event loop(s): one call per loop, not one per row."""
        if not self._outgoing:
            return
        outgoing, self._outgoing = self._outgoing, []
        by_loop: dict[int, list[tuple[Job, Outcome]]] = {}
        for job, outcome in outgoing:
            if not job.cancelled and job.loop is not None:
                by_loop.setdefault(id(job.loop), []).append((job, outcome))
        for batch in by_loop.values():
            loop = batch[0][0].loop
            assert loop is not None
            try:
                loop.call_soon_threadsafe(deliver, batch)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                logger.debug("event loop closed; dropping events for %d requests", len(batch))

    def _shutdown(self) -> None:
        with self._lock:
            waiting, self._waiting = list(self._waiting), deque()
        for job in waiting:
            self._release(job, EngineFailure(f"Model '{self._name}' was unloaded."))
        self._fail_active(f"Model '{self._name}' was unloaded.")
        self._flush()
