"""Progress of long, one-time work (preparing a model): a bar on a terminal, log lines otherwise.

`Progress(title, stream=...)` is told each stage's size and its advances. When the stream is a terminal
it redraws one line in place, at most ten times a second (`title  stage  ████░░░░  120/211  5s`);
otherwise it logs a line when a stage starts, at every further tenth of it, and when it ends, so a log
collector sees the work move without a line per step. Either way the last word is one log line with the
total time.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

log = logging.getLogger("openmaas.progress")

_BAR = 24
_REDRAW_SECONDS = 0.1


class Progress:
    def __init__(self, title: str, *, stream: TextIO | None = None) -> None:
        self.title = title
        self._stream = stream if stream is not None else sys.stderr
        self._live = bool(getattr(self._stream, "isatty", lambda: False)())
        self._started = time.monotonic()
        self._stage = ""
        self._done = 0
        self._total = 0
        self._logged_tenth = -1
        self._drawn_at = 0.0

    def stage(self, name: str, total: int = 0) -> None:
        """Begin a stage of `total` steps (0: a stage whose size is not known)."""
        self._end_line()
        self._stage, self._done, self._total, self._logged_tenth = name, 0, total, -1
        self._show()

    def advance(self, steps: int = 1) -> None:
        self._done = min(self._done + steps, self._total) if self._total else self._done + steps
        self._show()

    def finish(self) -> None:
        self._end_line()
        log.info("%s: done in %.1f s", self.title, time.monotonic() - self._started)

    def _show(self) -> None:
        if self._live:
            now = time.monotonic()
            if now - self._drawn_at >= _REDRAW_SECONDS or self._done in (0, self._total):
                self._drawn_at = now
                self._draw()
            return
        tenth = self._done * 10 // self._total if self._total else 0
        if tenth > self._logged_tenth:
            self._logged_tenth = tenth
            counted = f" {self._done}/{self._total}" if self._total else ""
            log.info("%s: %s%s", self.title, self._stage, counted)

    def _draw(self) -> None:
        elapsed = time.monotonic() - self._started
        if self._total:
            filled = self._done * _BAR // self._total
            bar = "█" * filled + "░" * (_BAR - filled)
            line = f"{self.title}  {self._stage}  {bar}  {self._done}/{self._total}  {elapsed:.0f}s"
        else:
            line = f"{self.title}  {self._stage}…  {elapsed:.0f}s"
        self._stream.write(f"\r\x1b[2K{line}")
        self._stream.flush()

    def _end_line(self) -> None:
        if self._live and self._stage:
            self._stream.write("\n")
            self._stream.flush()
