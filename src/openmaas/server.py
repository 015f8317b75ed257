"""The API process under uvicorn, with OpenMaaS's graceful shutdown.

On the first SIGTERM (or Ctrl-C) the server drains (`openmaas.draining`) instead of closing at once: it
keeps listening, so that load balancers see `/readyz` turn 503 and new requests get a 503 in their
dialect, and waits up to `shutdown_grace` seconds for the requests in flight. Those still running then
are ended properly (a chat stream with its dialect's error event), given `FLUSH_SECONDS` to send that
ending, and only then does uvicorn stop: it closes the listener and idle connections, waits at most
`CLOSE_SECONDS` more for connections still open (a client that stopped reading), and runs the app's
shutdown (image workers put unfinished tasks back in the queue, the ledger is flushed). A second signal
skips what is left of the grace.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from types import FrameType

import uvicorn

from openmaas.draining import Drain

log = logging.getLogger(__name__)

FLUSH_SECONDS = 5.0
CLOSE_SECONDS = 5


class GracefulServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, drain: Drain, grace: float) -> None:
        config.timeout_graceful_shutdown = CLOSE_SECONDS
        super().__init__(config)
        self.drain = drain
        self.grace = grace
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining: asyncio.Task[None] | None = None
        self._hurry = asyncio.Event()

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        loop = self._loop
        if loop is None or not self.started or self.should_exit:
            super().handle_exit(sig, frame)  # not serving yet, or already closing: uvicorn's own way
        elif self._draining is None:
            loop.call_soon_threadsafe(self._begin, sig)
        else:
            loop.call_soon_threadsafe(self._hurry.set)

    def _begin(self, sig: int) -> None:
        self._draining = asyncio.get_running_loop().create_task(self._drain(sig))

    async def _drain(self, sig: int) -> None:
        self.drain.begin()
        log.info(
            "shutting down: draining",
            extra={
                "signal": signal.Signals(sig).name,
                "grace_seconds": self.grace,
                "in_flight": self.drain.requests,
            },
        )
        hurry = asyncio.get_running_loop().create_task(self._hurry.wait())
        idle = asyncio.get_running_loop().create_task(self.drain.wait_idle(self.grace))
        await asyncio.wait({hurry, idle}, return_when=asyncio.FIRST_COMPLETED)
        hurry.cancel()
        if not idle.done() or not idle.result():
            idle.cancel()
            interrupted = self.drain.interrupt()
            log.warning(
                "shutdown grace over: ending the requests still running", extra={"interrupted": interrupted}
            )
            await self.drain.wait_idle(FLUSH_SECONDS)
        super().handle_exit(sig, None)
