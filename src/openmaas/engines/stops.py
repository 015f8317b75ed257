"""Stop strings over a stream of text chunks, for any engine.

A model produces text a few characters at a time (one token at a time), and a stop string can straddle
several chunks: with the stop `"###"`, the chunks `"ok #"`, `"#"`, `"# more"` must yield `"ok "` and
stop, and no `"#"` may reach the client first. `StopMatcher` therefore holds back the longest tail of the
text seen so far that could still grow into a stop string, emits everything before it, and releases the
held text once it can no longer match (or at the end, with `flush`). When a stop string completes, the
text before it is emitted, the stop string and everything after it are dropped, and the matcher reports
which stop matched. When several stops are complete in the same chunk, the one that starts first wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StopResult:
    """What `StopMatcher.feed` releases: `text` is safe to emit; `stop` is the stop string that completed
    (generation should end), or None."""

    text: str
    stop: str | None = None


class StopMatcher:
    """Feed text chunks, get back the text that is safe to emit. Empty stop strings are ignored."""

    __slots__ = ("_held", "_longest", "_stopped", "_stops")

    def __init__(self, stops: Iterable[str]) -> None:
        self._stops: tuple[str, ...] = tuple(dict.fromkeys(s for s in stops if s))
        self._longest = max((len(s) for s in self._stops), default=0)
        self._held = ""
        self._stopped: str | None = None

    @property
    def active(self) -> bool:
        """Whether there is any stop string to watch for."""
        return bool(self._stops)

    @property
    def stopped(self) -> str | None:
        """The stop string that ended the text, once one has."""
        return self._stopped

    def feed(self, chunk: str) -> StopResult:
        if self._stopped is not None:
            return StopResult("", self._stopped)
        if not self._stops:
            return StopResult(chunk)
        text = self._held + chunk
        found = self._first_stop(text)
        if found is not None:
            index, stop = found
            self._held = ""
            self._stopped = stop
            return StopResult(text[:index], stop)
        keep = self._partial_tail(text)
        self._held = text[len(text) - keep :] if keep else ""
        return StopResult(text[: len(text) - keep])

    def flush(self) -> str:
        """The held-back text, at the end of generation (it did not turn into a stop string)."""
        held, self._held = self._held, ""
        return "" if self._stopped is not None else held

    def _first_stop(self, text: str) -> tuple[int, str] | None:
        best: tuple[int, str] | None = None
        for stop in self._stops:
            index = text.find(stop)
            if index >= 0 and (best is None or index < best[0]):
                best = (index, stop)
        return best

    def _partial_tail(self, text: str) -> int:
        """Length of the longest tail of `text` that is a proper prefix of some stop string."""
        for size in range(min(len(text), self._longest - 1), 0, -1):
            tail = text[len(text) - size :]
            if any(stop.startswith(tail) for stop in self._stops):
                return size
        return 0
