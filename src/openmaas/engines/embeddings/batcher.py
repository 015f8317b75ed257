"""Dynamic batching: the inputs of concurrent requests are encoded together, in one forward pass.

Requests submit their inputs (token-id sequences) and wait. One asyncio task forms batches and runs
each in the engine's single worker thread, so forward passes never overlap and the event loop never
blocks. A batch closes when it is full — `max_batch_size` inputs, or `max_batch_tokens` padded tokens
(inputs × the longest) — or when the oldest waiting input has waited `max_wait` seconds. While a batch
runs, new requests queue up and form the next one, so under load batches fill without any waiting and
an idle server adds at most `max_wait` to a lone request.

Inputs are taken round-robin across the waiting requests, so a request of a thousand inputs shares
every batch with the small requests that arrive behind it instead of holding them up until it is done.
A request whose caller went away (its future cancelled) is dropped from the queue. When more than
`max_queued` inputs are waiting, a new request is refused with `Overloaded` (unless the queue is empty:
one oversized request is always taken).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from openmaas.domain.errors import EngineFailure, OpenMaaSError, Overloaded

log = logging.getLogger(__name__)

R = TypeVar("R")
Tokens = Sequence[int]


@dataclass(eq=False)
class _Job(Generic[R]):
    items: Sequence[Tokens]
    future: asyncio.Future[list[R]]
    arrived: float
    taken: int = 0  # inputs handed to batches so far, in order
    done: int = 0
    results: list[R | None] = field(default_factory=list)

    @property
    def waiting(self) -> int:
        return len(self.items) - self.taken


Pick = tuple[_Job[R], int]


class DynamicBatcher(Generic[R]):
    """Batches token sequences for `run`, which maps a batch to one result per sequence, in order."""

    def __init__(
        self,
        run: Callable[[list[Tokens]], Iterable[R]],
        *,
        max_batch_size: int,
        max_batch_tokens: int,
        max_wait: float,
        max_queued: int,
        name: str,
    ) -> None:
        self._run = run
        self.max_batch_size = max_batch_size
        self.max_batch_tokens = max_batch_tokens
        self.max_wait = max_wait
        self.max_queued = max_queued
        self.name = name
        self._jobs: list[_Job[R]] = []
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"embed-{name}")
        self._task: asyncio.Task[None] | None = None
        self.running = 0
        self.batches = 0
        self.batched_requests = 0

    @property
    def queued(self) -> int:
        """Inputs waiting for a batch."""
        return sum(job.waiting for job in self._jobs)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._serve(), name=f"batcher-{self.name}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for job in self._jobs:
            if not job.future.done():
                job.future.set_exception(
                    Overloaded(f"The model {self.name!r} is shutting down.", retry_after=5)
                )
        self._jobs.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def submit(self, items: Sequence[Tokens]) -> list[R]:
        """Encode `items` in whatever batches come; returns their results in order."""
        if self._task is None:
            raise Overloaded(f"The model {self.name!r} is not running.", retry_after=5)
        queued = self.queued
        if queued and queued + len(items) > self.max_queued:
            raise Overloaded(f"The model {self.name!r} has too many inputs waiting; retry shortly.")
        loop = asyncio.get_running_loop()
        job: _Job[R] = _Job(items, loop.create_future(), loop.time(), results=[None] * len(items))
        self._jobs.append(job)
        self._wake.set()
        return await job.future

    # ---- the batching task ----------------------------------------------------------------------

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            picks = await self._next_batch()
            self._commit(picks)
            batch = [job.items[index] for job, index in picks]
            self.running = len(batch)
            try:
                outputs = await loop.run_in_executor(self._executor, self._run, batch)
                self._deliver(picks, outputs)
            except Exception as exc:
                self._fail(picks, exc)
            finally:
                self.running = 0

    async def _next_batch(self) -> list[Pick[R]]:
        loop = asyncio.get_running_loop()
        while True:
            self._jobs = [job for job in self._jobs if not job.future.done() and job.waiting]
            if not self._jobs:
                self._wake.clear()
                await self._wake.wait()
                continue
            picks, full = self._plan()
            remaining = self._jobs[0].arrived + self.max_wait - loop.time()
            if full or remaining <= 0:
                return picks
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), remaining)

    def _plan(self) -> tuple[list[Pick[R]], bool]:
        """The next batch, taken round-robin across waiting jobs; `full` when a limit stopped it."""
        picks: list[Pick[R]] = []
        longest = 0
        cursors = {id(job): job.taken for job in self._jobs}
        active = list(self._jobs)
        while active:
            still = []
            for job in active:
                index = cursors[id(job)]
                length = max(longest, len(job.items[index]))
                if picks and self._no_room(len(picks), length):
                    return picks, True
                picks.append((job, index))
                longest = length
                cursors[id(job)] = index + 1
                if index + 1 < len(job.items):
                    still.append(job)
            active = still
        return picks, self._no_room(len(picks), longest)

    def _no_room(self, count: int, longest: int) -> bool:
        """Whether a batch of `count` inputs, the longest of `longest` tokens, can take no other."""
        return count >= self.max_batch_size or (count + 1) * longest > self.max_batch_tokens

    def _commit(self, picks: list[Pick[R]]) -> None:
        for job, index in picks:
            job.taken = max(job.taken, index + 1)
        self.batches += 1
        self.batched_requests += len({id(job) for job, _ in picks})

    def _deliver(self, picks: list[Pick[R]], outputs: Iterable[R]) -> None:
        for (job, index), output in zip(picks, outputs, strict=True):
            job.results[index] = output
            job.done += 1
            if job.done == len(job.items) and not job.future.done():
                job.future.set_result(job.results)  # type: ignore[arg-type] # all filled now

    def _fail(self, picks: list[Pick[R]], exc: Exception) -> None:
        if isinstance(exc, OpenMaaSError):
            error: OpenMaaSError = exc
        else:
            log.error("embedding batch failed", exc_info=exc, extra={"model": self.name})
            error = EngineFailure(f"The model {self.name!r} failed to embed the input; see the server log.")
        for job in {id(job): job for job, _ in picks}.values():
            if not job.future.done():
                job.future.set_exception(error)
