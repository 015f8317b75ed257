"""What happens to a request beyond its route: a client that goes away cancels it, and the drain
refuses it or ends it (`openmaas.draining`).

`CallMiddleware` sits inside `RequestContextMiddleware` (so the request id is known) and, for every
request but the probes:

- refuses it with a 503 in its dialect (and `Connection: close`) once the server drains;
- counts it as in flight for the drain, which may cancel it with `SHUTDOWN` until its response starts;
  a request so ended before it answered gets a 503 in its dialect;
- once the request's body has been read, watches for the client to disconnect until the response
  starts, and then cancels the request's task with `DISCONNECTED`: the route stops where it waits (a
  non-streamed chat call's engine stops at its next step and frees its slot; the call is settled as a
  stream the client dropped), and no response is sent. After the response starts, a streamed body
  notices the disconnect itself (Starlette) and closes the event stream the same way.

Both cancellations are taken back (`Task.uncancel`) here once handled, so they never reach the server
as a traceback.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openmaas.api.middleware import ErrorForPath
from openmaas.domain.errors import ShuttingDown
from openmaas.draining import DISCONNECTED, SHUTDOWN, Drain, Work, cancelled_by

PROBES = frozenset({"/healthz", "/readyz", "/metrics"})


class CallMiddleware:
    def __init__(self, app: ASGIApp, *, drain: Drain, render_error: ErrorForPath) -> None:
        self.app = app
        self.drain = drain
        self.render_error = render_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PROBES:
            await self.app(scope, receive, send)
            return
        if self.drain.draining:
            await self._refuse(scope, receive, send)
            return
        task = asyncio.current_task()
        assert task is not None
        call = _Call(self.drain.track(task), task, receive, send)
        self.drain.request_started()
        try:
            await self.app(scope, call.receive, call.send)
        except asyncio.CancelledError as exc:
            if not self._taken_back(exc, task):
                raise
            if not cancelled_by(exc, DISCONNECTED) and not call.started:
                await self._refuse(scope, receive, send)
        finally:
            call.stop_watching()
            self.drain.untrack(call.work)
            self.drain.request_ended()

    def _taken_back(self, exc: asyncio.CancelledError, task: asyncio.Task[object]) -> bool:
        """Whether the cancellation is one of ours (at shutdown, also one of the server's own, which
        ends requests stuck sending to a client that does not read): then it is taken back."""
        ours = cancelled_by(exc, DISCONNECTED) or cancelled_by(exc, SHUTDOWN) or self.drain.interrupted
        if ours:
            task.uncancel()
        return ours

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = ShuttingDown()
        error.headers["Connection"] = "close"
        request_id = str(scope.get("state", {}).get("request_id", ""))
        await self.render_error(scope["path"], error, request_id)(scope, receive, send)


class _Call:
    """One request's receive and send, watching for the client to go away between the end of the body
    and the start of the response."""

    def __init__(self, work: Work, task: asyncio.Task[object], receive: Receive, send: Send) -> None:
        self.work = work
        self.task = task
        self._receive = receive
        self._send = send
        self._watcher: asyncio.Task[None] | None = None
        self.started = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request" and not message.get("more_body", False) and not self.started:
            self._watcher = asyncio.get_running_loop().create_task(self._watch())
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.work.task = None  # a streamed body is ended by its chat call, not by cancelling it here
            self.stop_watching()
        await self._send(message)

    async def _watch(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass
        if not self.started:
            self.task.cancel(DISCONNECTED)

    def stop_watching(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None
