"""Engines that answer at once, for measuring what the gateway itself costs per request and chunk.

`InstantChatEngine` yields `max_tokens` (default 16) one-word deltas without any model behind them;
`InstantImageEngine` returns a fixed 8x8 PNG per image, reporting every step. Benchmarks only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from openmaas.domain.chat import ChatEvent, ChatRequest, Finish, TextDelta, Usage
from openmaas.domain.images import ImageJob, ProgressCallback
from openmaas.engines.base import ChatEngine, ImageEngine

# A valid 8x8 grey PNG.
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000008000000080800000000e164e1570000001049444154789c"
    "636c60800026068a1800260800905d30a51e0000000049454e44ae426082"
)


class InstantChatEngine(ChatEngine):
    async def start(self) -> None:
        return None

    def count_tokens(self, request: ChatRequest) -> int:
        return sum(len(m.text.split()) for m in request.messages)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        count = request.sampling.max_tokens or 16
        for _ in range(count):
            yield TextDelta(" tok")
        yield Finish("length")
        yield Usage(self.count_tokens(request), count)


class InstantImageEngine(ImageEngine):
    async def start(self) -> None:
        return None

    async def generate(self, job: ImageJob, progress: ProgressCallback) -> list[bytes]:
        for step in range(job.steps):
            progress(step + 1, job.steps)
        return [TINY_PNG] * job.n
