"""From the token ids a local engine generates to the `ChatEvent`s of one answer.

Every engine that picks tokens itself (transformers, OpenVINO) hands each new token of an answer to an
`AnswerText`, which:

- decodes it incrementally (`detokenize.py`: never half a character, sentencepiece spaces right);
- watches for the request's stop strings, holding back text that could still grow into one
  (`stops.py`); when one completes, the text before it is the end of the answer;
- ends the answer at an end-of-sequence token (`stop`) or when the token budget is spent (`length`),
  releasing whatever the detokenizer and the stop matcher still hold;
- for a client that takes the answer whole (`whole`), keeps the text and releases it in one event at the
  end (fewer hand-offs to the event loop).

The end is always `Finish` then `Usage`, as `openmaas.domain.chat` requires of an engine.
"""

from __future__ import annotations

from openmaas.domain.chat import ChatEvent, Finish, FinishReason, TextDelta, Usage
from openmaas.engines.detokenize import Decode, IncrementalDetokenizer
from openmaas.engines.stops import StopMatcher


class AnswerText:
    __slots__ = (
        "_detokenizer",
        "_kept",
        "_stops",
        "finished",
        "generated",
        "max_new_tokens",
        "prompt_tokens",
        "whole",
    )

    def __init__(
        self,
        decode: Decode,
        *,
        prompt_tokens: int,
        max_new_tokens: int,
        stops: tuple[str, ...] = (),
        whole: bool = False,
    ) -> None:
        self._detokenizer = IncrementalDetokenizer(decode)
        self._stops = StopMatcher(stops)
        self._kept: list[str] = []
        self.prompt_tokens = prompt_tokens
        self.max_new_tokens = max_new_tokens
        self.whole = whole
        #: Tokens generated so far (the end-of-sequence token included).
        self.generated = 0
        self.finished = False

    def add(self, token: int, *, end_of_sequence: bool = False) -> list[ChatEvent]:
        """Take the next token; return the events it produces (text, maybe the end of the answer)."""
        if self.finished:
            return []
        self.generated += 1
        if end_of_sequence:
            return self.finish("stop")
        piece = self._stops.feed(self._detokenizer.add(token))
        if piece.stop is not None:
            return self._end(piece.text, "stop", piece.stop)
        if self.generated >= self.max_new_tokens:
            return self._finish("length", piece.text)
        if self.whole:
            self._kept.append(piece.text)
            return []
        return [TextDelta(piece.text)] if piece.text else []

    def finish(self, reason: FinishReason) -> list[ChatEvent]:
        """End the answer for a reason the engine decided (an end token, its own limit)."""
        return [] if self.finished else self._finish(reason, "")

    def _finish(self, reason: FinishReason, text: str) -> list[ChatEvent]:
        """End of generation not caused by a stop string: release what the detokenizer and the stop
        matcher still hold (the tail may still complete a stop string)."""
        tail = self._stops.feed(self._detokenizer.flush())
        if tail.stop is not None:
            return self._end(text + tail.text, "stop", tail.stop)
        return self._end(text + tail.text + self._stops.flush(), reason, None)

    def _end(self, text: str, reason: FinishReason, stop: str | None) -> list[ChatEvent]:
        self.finished = True
        text = "".join(self._kept) + text
        events: list[ChatEvent] = [TextDelta(text)] if text else []
        events.append(Finish(reason, stop_sequence=stop))
        events.append(Usage(prompt_tokens=self.prompt_tokens, completion_tokens=self.generated))
        return events
