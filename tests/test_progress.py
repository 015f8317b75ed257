"""Progress of a model's preparation: a bar redrawn in place on a terminal, a few log lines otherwise."""

from __future__ import annotations

import io
import logging

import pytest

from openmaas.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_one_line_is_redrawn_and_ended(caplog: pytest.LogCaptureFixture) -> None:
    screen = Terminal()
    progress = Progress("Preparing m", stream=screen)
    progress.stage("writing the weights", 4)
    for _ in range(4):
        progress.advance()
    with caplog.at_level(logging.INFO, logger="openmaas.progress"):
        progress.finish()
    drawn = screen.getvalue()
    assert drawn.startswith("\r\x1b[2KPreparing m  writing the weights  ░")
    assert "████████████████████████  4/4" in drawn and drawn.endswith("\n")
    assert [r.getMessage() for r in caplog.records] == [caplog.records[0].getMessage()]
    assert caplog.records[0].getMessage().startswith("Preparing m: done in ")


def test_elsewhere_a_line_per_tenth(caplog: pytest.LogCaptureFixture) -> None:
    pipe = io.StringIO()
    with caplog.at_level(logging.INFO, logger="openmaas.progress"):
        progress = Progress("Preparing m", stream=pipe)
        progress.stage("reading the tokenizer")
        progress.stage("writing the weights", 100)
        for _ in range(100):
            progress.advance()
        progress.finish()
    lines = [r.getMessage() for r in caplog.records]
    assert pipe.getvalue() == ""
    assert lines[0] == "Preparing m: reading the tokenizer"
    assert lines[1:12] == [f"Preparing m: writing the weights {n}/100" for n in range(0, 101, 10)]
    assert lines[12].startswith("Preparing m: done in ") and len(lines) == 13
