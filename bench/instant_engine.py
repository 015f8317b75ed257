"""Engines that answer at once, for measuring what the gateway itself costs per request and chunk.

`InstantChatEngine` yields `max_tokens` (default 16) one-word deltas without any model behind them;
`InstantImageEngine` returns a fixed 8x8 PNG per image, reporting every step. Benchmarks only.

Options (registry `[models.options]`), both 0 by default: `token_interval`, the seconds between two
chat tokens, and `step_interval`, the seconds an image step takes (on a worker thread, as a real
engine's): paced so that many calls are in flight at once (`bench/torture.py`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from openmaas.domain.chat import ChatEvent, ChatRequest, Finish, TextDelta, Usage
from openmaas.domain.images import ImageJob, ProgressCallback
from openmaas.engines.base import ChatEngine, EngineStats, ImageEngine

# A valid 8x8 grey PNG.
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000008000000080800000000e164e1570000001049444154789c"
    "636c60800026068a1800260800905d30a51e0000000049454e44ae426082"
)


class InstantChatEngine(ChatEngine):
    async def start(self) -> None:
        self.token_interval = float(self.spec.options.get("token_interval", 0.0))
        self.running = 0

    def stats(self) -> EngineStats:
        return EngineStats(running=self.running)

    def count_tokens(self, request: ChatRequest) -> int:
        return sum(len(m.text.split()) for m in request.messages)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        count = request.sampling.max_tokens or 16
        self.running += 1
        try:
            for _ in range(count):
                if self.token_interval:
                    await asyncio.sleep(self.token_interval)
                yield TextDelta(" tok")
        finally:
            self.running -= 1
        yield Finish("length")
        yield Usage(self.count_tokens(request), count)


class InstantImageEngine(ImageEngine):
    async def start(self) -> None:
        self.step_interval = float(self.spec.options.get("step_interval", 0.0))

    async def generate(self, job: ImageJob, progress: ProgressCallback) -> list[bytes]:
        if not self.step_interval:
            for step in range(job.steps):
                progress(step + 1, job.steps)
            return [TINY_PNG] * job.n
        return await asyncio.to_thread(self._paced, job, progress)

    def _paced(self, job: ImageJob, progress: ProgressCallback) -> list[bytes]:
        for step in range(job.steps):
            time.sleep(self.step_interval)
            progress(step + 1, job.steps)
        return [TINY_PNG] * job.n
