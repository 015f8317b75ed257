"""Separating a reasoning model's thinking from its answer, as the text streams in.

Qwen3 and DeepSeek-R1 write their thinking between `<think>` and `</think>` before the answer. With
`starts_in_reasoning` (DeepSeek-R1's template opens the tag in the prompt) the output begins inside
the thinking. Thinking text becomes `ReasoningDelta`s and never reaches `content`; thinking that never
closes (the budget or max_tokens ran out) stays reasoning. A start tag counts only at the very
beginning of the answer; later it is ordinary text.
"""

from __future__ import annotations

from openmaas.domain.chat import ChatEvent, ReasoningDelta, TextDelta
from openmaas.parsers.holdback import split_partial


class ReasoningParser:
    def __init__(
        self, *, start: str = "<think>", end: str = "</think>", starts_in_reasoning: bool = False
    ) -> None:
        self.start = start
        self.end = end
        self._mode = "reasoning" if starts_in_reasoning else "opening"
        self._buffer = ""
        self._strip_leading = False

    def feed(self, text: str) -> list[ChatEvent]:
        self._buffer += text
        events: list[ChatEvent] = []
        while self._buffer:
            if self._mode == "opening":
                stripped = self._buffer.lstrip()
                if stripped.startswith(self.start):
                    self._buffer = stripped[len(self.start) :]
                    self._mode = "reasoning"
                    self._strip_leading = True
                    continue
                if not stripped or self.start.startswith(stripped):
                    return events  # could still become the start tag
                self._mode = "content"
            if self._strip_leading:
                # The newlines right after a tag are layout, not text.
                self._buffer = self._buffer.lstrip("\n")
                if not self._buffer:
                    return events
                self._strip_leading = False
            if self._mode == "reasoning":
                before, found, after = self._buffer.partition(self.end)
                if found:
                    if before:
                        events.append(ReasoningDelta(before))
                    self._buffer = after
                    self._mode = "content"
                    self._strip_leading = True
                    continue
                safe, held = split_partial(self._buffer, self.end)
                if safe:
                    events.append(ReasoningDelta(safe))
                self._buffer = held
                return events
            events.append(TextDelta(self._buffer))
            self._buffer = ""
        return events

    def flush(self) -> list[ChatEvent]:
        text, self._buffer = self._buffer, ""
        if not text:
            return []
        if self._mode == "reasoning":
            return [ReasoningDelta(text)]
        return [TextDelta(text)]
