"""Draining: how the server stops taking work and ends the work it has, when asked to stop.

On SIGTERM (see `openmaas.server`) the `Drain` begins: `/readyz` answers 503 at once, so load balancers
stop sending requests, and every new request but the probes is refused with a 503 in its route's
dialect. Requests already running get the shutdown grace to finish. Those still running after it are
interrupted: each is cancelled with the `SHUTDOWN` message, which the layers above turn into a proper
ending instead of a cut body: a chat call into a `ShuttingDown` error (the dialect's error event in a
stream, then `[DONE]` for OpenAI), any other request into a 503 response. Their calls are given back.

Two kinds of work are tracked, each a `Work` naming the task to cancel:
- a request, by `api.calls.CallMiddleware`, until its response starts (the request's own task);
- a chat call, by `services.chat.ChatCall`, while it runs: a stream is iterated from another task than
  its request's, and only while the call waits for its engine is a cancellation sure to land in it, so
  in between the call is flagged instead and stops when it is resumed.

A client that goes away is the other cancellation a request sees (`DISCONNECTED`, see `api/calls.py`).
"""

from __future__ import annotations

import asyncio
import contextlib

#: The messages of the cancellations OpenMaaS itself makes (read back with `cancelled_by`).
SHUTDOWN = "openmaas: the shutdown grace is over"
DISCONNECTED = "openmaas: the client went away"


def cancelled_by(exc: BaseException, reason: str) -> bool:
    """Whether `exc` is the cancellation OpenMaaS made for `reason`."""
    return isinstance(exc, asyncio.CancelledError) and exc.args[:1] == (reason,)


class Work:
    """Something the drain may have to interrupt: `task` is the task to cancel (None while the work is
    not waiting inside it), `stopping` is set when it should stop as soon as it runs again."""

    __slots__ = ("stopping", "task")

    def __init__(self, task: asyncio.Task[object] | None) -> None:
        self.task = task
        self.stopping = False


class Drain:
    def __init__(self) -> None:
        self.draining = False
        self.interrupted = False
        self._requests = 0
        self._work: set[Work] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def requests(self) -> int:
        """Requests in flight (the probes excepted)."""
        return self._requests

    def request_started(self) -> None:
        self._requests += 1
        self._idle.clear()

    def request_ended(self) -> None:
        self._requests -= 1
        if self._requests == 0:
            self._idle.set()

    def track(self, task: asyncio.Task[object] | None) -> Work:
        work = Work(task)
        self._work.add(work)
        if self.interrupted:
            work.stopping = True
        return work

    def untrack(self, work: Work) -> None:
        self._work.discard(work)

    def begin(self) -> None:
        """Stop taking new requests (readiness turns 503)."""
        self.draining = True

    async def wait_idle(self, within: float) -> bool:
        """Wait up to `within` seconds for the requests in flight to end; whether they all did."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._idle.wait()
        return self._idle.is_set()

    def interrupt(self) -> int:
        """End the work still running (see the module docstring); how many tasks were cancelled."""
        self.interrupted = True
        tasks: set[asyncio.Task[object]] = set()
        for work in self._work:
            work.stopping = True
            if work.task is not None and not work.task.done():
                tasks.add(work.task)
        for task in tasks:
            task.cancel(SHUTDOWN)
        return len(tasks)
