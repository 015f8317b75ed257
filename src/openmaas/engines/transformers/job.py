"""One request's life in the generation thread, and how its events reach the asyncio side.

A `Job` is created on the event loop with everything decided up front (prompt ids, sampling settings,
the token budget). The generation thread owns its per-token state (random generator, the answer's text:
`openmaas.engines.answer`) and turns each chosen token into events with `advance`; the events are
handed to the loop in one batch per step (`deliver` runs on the loop and fills each job's `outbox`).
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from openmaas.domain.chat import ChatEvent
from openmaas.engines.answer import AnswerText
from openmaas.engines.detokenize import Decode
from openmaas.engines.transformers.sampling import RowSampling

if TYPE_CHECKING:
    from openmaas.engines.transformers.vision import VisionPrompt

Outcome = list[ChatEvent] | BaseException
"""What the generation thread hands over for a job in one step: events, or the error that ended it."""


@dataclass(eq=False)
class Job:
    prompt_ids: list[int]
    sampling: RowSampling
    max_new_tokens: int
    stops: tuple[str, ...] = ()
    seed: int | None = None
    # The client takes the answer whole: keep the text until the end (fewer hand-offs to the loop).
    whole: bool = False
    # A prompt with images: prefilled on its own with these inputs (dropped once prefilled).
    vision: VisionPrompt | None = None
    loop: asyncio.AbstractEventLoop | None = None
    outbox: asyncio.Queue[Outcome] = field(default_factory=asyncio.Queue)
    # Set by the event loop when the consumer went away; the generation thread drops the row.
    cancelled: bool = False
    generated: list[int] = field(default_factory=list)
    finished: bool = False
    _rng: random.Random | None = None
    _answer: AnswerText | None = None

    def begin(self, decode: Decode) -> None:
        """Set up the per-token state; called by the generation thread when the job gets a row."""
        self._rng = random.Random(self.seed if self.seed is not None else secrets.randbits(64))
        self._answer = AnswerText(
            decode,
            prompt_tokens=len(self.prompt_ids),
            max_new_tokens=self.max_new_tokens,
            stops=self.stops,
            whole=self.whole,
        )

    def uniform(self) -> float:
        """This job's next random number (drawn for every token, so a seed replays exactly)."""
        assert self._rng is not None
        return self._rng.random()

    def advance(self, token: int, eos_ids: Collection[int]) -> list[ChatEvent]:
        """Take the token chosen for this job; return the events it produces (text, maybe the end)."""
        assert self._answer is not None
        self.generated.append(token)
        events = self._answer.add(token, end_of_sequence=token in eos_ids)
        self.finished = self._answer.finished
        return events


def deliver(batch: Sequence[tuple[Job, Outcome]]) -> None:
    """Runs on the event loop: one call per generation step carries every job's events."""
    for job, outcome in batch:
        job.outbox.put_nowait(outcome)
