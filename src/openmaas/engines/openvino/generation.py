"""One request's life inside the OpenVINO pipeline, as the driver thread sees it.

A `Generation` is made on the event loop with everything decided up front: the prompt's token ids,
OpenVINO's `GenerationConfig`, the answer's text (`openmaas.engines.answer.AnswerText`: detokenizing,
stop strings, the end), and for a reasoning model with a thinking budget a `ThinkingBudget`. The driver
thread feeds it the tokens the pipeline generates (`take`) and hands the events to the event loop.

A thinking budget is kept by continuation: when the answer has spent its budget inside its thinking, the
driver ends that pipeline request and adds another whose prompt is the original one, the tokens so far
and the closing of the thinking (`</think>`), so the model goes on to answer. The closing tokens count
as generated, and the answer's text shows them, as it would had the model written them.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

from openmaas.domain.chat import ChatEvent
from openmaas.engines.answer import AnswerText

Outcome = list[ChatEvent] | BaseException


@dataclass(eq=False)
class ThinkingBudget:
    """Counts the tokens spent inside the thinking; `exhausted` once `budget` were spent there with the
    thinking still open. `opening` / `closing` are the token ids of `<think>` / `</think>`; `forced` those
    written to close it."""

    budget: int
    opening: list[int]
    closing: list[int]
    forced: list[int]
    starts_open: bool
    _history: list[int] = field(default_factory=list)
    _start: int | None = None
    closed: bool = False

    def __post_init__(self) -> None:
        if self.starts_open:
            self._start = 0

    def add(self, token: int) -> None:
        self._history.append(token)
        if self._start is None:
            if len(self._history) <= 8 and _ends_with(self._history, self.opening):
                self._start = len(self._history)
            return
        if not self.closed and _ends_with(self._history[self._start :], self.closing):
            self.closed = True

    @property
    def exhausted(self) -> bool:
        return self._start is not None and not self.closed and len(self._history) - self._start >= self.budget


def _ends_with(tokens: list[int], tail: list[int]) -> bool:
    return bool(tail) and tokens[-len(tail) :] == tail


@dataclass(eq=False)
class Generation:
    prompt_ids: list[int]
    config: Any  # openvino_genai.GenerationConfig
    answer: AnswerText
    eos_ids: frozenset[int]
    loop: asyncio.AbstractEventLoop
    budget: ThinkingBudget | None = None
    outbox: asyncio.Queue[Outcome] = field(default_factory=asyncio.Queue)
    #: The pipeline's id and handle of the request running now (a continuation replaces both).
    request_id: int | None = None
    handle: Any = None
    #: Set on the event loop when the consumer went away; the driver drops the request.
    cancelled: bool = False
    generated: list[int] = field(default_factory=list)
    #: Set once the consumer has sent on the first events (the driver waits for it: see `driver.py`).
    sent: threading.Event = field(default_factory=threading.Event)

    @property
    def finished(self) -> bool:
        return self.answer.finished

    def take(self, tokens: list[int]) -> list[ChatEvent]:
        """The events of newly generated tokens."""
        events: list[ChatEvent] = []
        for token in tokens:
            if self.answer.finished:
                break
            self.generated.append(token)
            events += self.answer.add(token, end_of_sequence=token in self.eos_ids)
            if self.budget is not None:
                self.budget.add(token)
        return events

    @property
    def needs_continuation(self) -> bool:
        """The thinking budget is spent: end this pipeline request and continue with the thinking closed."""
        return self.budget is not None and self.budget.exhausted and not self.answer.finished

    def continuation(self) -> tuple[list[int], list[ChatEvent]]:
        """The next pipeline request's prompt, and the events of the closing tokens written for the model."""
        assert self.budget is not None
        events = self.take(self.budget.forced)
        self.budget.closed = True
        return self.prompt_ids + self.generated, events

    @property
    def tokens_left(self) -> int:
        return self.answer.max_new_tokens - self.answer.generated
