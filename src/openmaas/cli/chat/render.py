"""What the terminal chat prints: colours (or none), the message list, a progress bar, durations.

Colour follows the conventions: off with `--no-color`, with a non-empty `NO_COLOR` variable
(https://no-color.org), or when the output is not a terminal.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from openmaas.cli.chat.conversation import Message

# The lesson's show_messages: backgrounds 41..46 (red, green, yellow, blue, magenta, cyan) in turn.
BACKGROUNDS = tuple(f"\033[4{n}m" for n in range(1, 7))
RESET = "\033[0m"
DIM = "\033[2m"
BOLD = "\033[1m"
RED = "\033[31m"
CLEAR_LINE = "\r\033[K"
CONTROL_CHARACTERS = {c: None for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)] if chr(c) not in "\n\t"}


def color_wanted(no_color_flag: bool, stream: TextIO) -> bool:
    if no_color_flag or os.environ.get("NO_COLOR"):
        return False
    return stream.isatty()


class Printer:
    """Writes the chat's output to one stream, with or without ANSI colour."""

    def __init__(self, out: TextIO = sys.stdout, *, color: bool = True, err: TextIO = sys.stderr) -> None:
        self.out = out
        self.err = err
        self.color = color
        self._progress_shown = False

    def _paint(self, code: str, text: str) -> str:
        return f"{code}{text}{RESET}" if self.color else text

    def write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def line(self, text: str = "") -> None:
        self.write(text + "\n")

    def info(self, text: str) -> None:
        self.line(self._paint(DIM, text))

    def answer(self, text: str) -> None:
        self.write(printable(text))

    def thinking(self, text: str) -> None:
        self.write(self._paint(DIM, printable(text)))

    def label(self, text: str) -> None:
        self.write(self._paint(BOLD, text))

    def error(self, text: str) -> None:
        """One line on stderr: what went wrong and, where it helps, what to do."""
        self.err.write(self._paint(RED, f"openmaas: {printable(text)}") + "\n")
        self.err.flush()

    def show_messages(self, messages: Sequence[Message]) -> None:
        """Each message exactly as it is sent, on its own background colour, as in the lesson."""
        self.line("========== messages start ==========")
        for index, message in enumerate(messages):
            text = json.dumps(message, ensure_ascii=False)
            self.line(f"{BACKGROUNDS[index % len(BACKGROUNDS)]}{text}{RESET}" if self.color else text)
        self.line("========== messages end ==========")

    def progress(self, fraction: float | None, status: str) -> None:
        """Redraw the progress line in place (on a terminal) or print each change (elsewhere)."""
        text = f"{progress_bar(fraction)} {status}"
        if self.out.isatty():
            self.write(f"{CLEAR_LINE}{text}")
            self._progress_shown = True
        else:
            self.line(text)

    def end_progress(self) -> None:
        """End the progress line, if one is open, so the next output starts on a line of its own."""
        if self._progress_shown:
            self.write("\n")
            self._progress_shown = False


def printable(text: str) -> str:
    """Text from the server without control characters (but newlines and tabs): a model's answer
    must not be able to move the cursor, recolour or retitle the user's terminal."""
    return text.translate(CONTROL_CHARACTERS)


def progress_bar(fraction: float | None, width: int = 30) -> str:
    """`[###########-------------------]  37%`; an unknown fraction shows an empty bar and `--%`."""
    if fraction is None:
        return f"[{'-' * width}]  --%"
    fraction = min(1.0, max(0.0, fraction))
    filled = round(fraction * width)
    return f"[{'#' * filled}{'-' * (width - filled)}] {round(fraction * 100):3d}%"


def human_duration(seconds: float) -> str:
    """`5 h 12 min`, `3 min 20 s`, `45 s`."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"
