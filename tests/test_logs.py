"""The two log formats of the same records: short text lines for people, JSON lines for machines."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from openmaas.logs import JsonFormatter, TextFormatter, log_formatter, request_id_var

ANSI = re.compile(r"\x1b\[[0-9;]*m")
ACCESS: dict[str, Any] = {
    "method": "POST",
    "path": "/v1/chat/completions",
    "status": 200,
    "duration_ms": 412.34,
    "user": "alice",
    "model": "Org/Name",
}


def record(name: str, message: str, *, level: int = logging.INFO, **fields: Any) -> logging.LogRecord:
    return logging.getLogger(name).makeRecord(name, level, __file__, 1, message, (), None, extra=fields)


@pytest.fixture
def in_a_request() -> Iterator[str]:
    request_id = "req-3f2a9c1d0123456789abcdef01234567"
    token = request_id_var.set(request_id)
    yield request_id
    request_id_var.reset(token)


def test_the_access_line_is_short_and_says_who_asked_what(in_a_request: str) -> None:
    line = TextFormatter(color=False).format(record("openmaas.access", "request", **ACCESS))
    when, rest = line.split(" ", 1)
    assert re.fullmatch(r"\d\d:\d\d:\d\d", when)
    assert rest == "INFO  POST /v1/chat/completions  200  alice  Org/Name  412 ms  req-3f2a9c1d"
    assert in_a_request.startswith(line.rsplit(" ", 1)[1])  # a prefix of the id the client got


def test_the_access_line_names_the_error_and_colours_the_status() -> None:
    refused = {**ACCESS, "status": 400, "error": "joined_string_literal", "duration_ms": 3.21}
    line = TextFormatter(color=True).format(record("openmaas.access", "request", **refused))
    assert "\x1b[33m400\x1b[0m \x1b[33mjoined_string_literal\x1b[0m" in line
    expected = "POST /v1/chat/completions  400 joined_string_literal  alice  Org/Name  3.2 ms"
    assert ANSI.sub("", line).endswith(expected)
    anonymous = {**ACCESS, "status": 404, "user": "", "model": "", "path": "unmatched"}
    plain = TextFormatter(color=False).format(record("openmaas.access", "request", **anonymous))
    assert plain.endswith("POST unmatched  404  412 ms")


def test_engine_and_server_lines_show_their_fields() -> None:
    text = TextFormatter(color=False)
    ready = text.format(record("openmaas.engines.manager", "model ready", model="Org/Name", seconds=20.1))
    assert ready.split(" ", 1)[1] == "INFO  engines.manager  model ready  model=Org/Name seconds=20.1"
    spaced = text.format(record("openmaas.engines.manager", "loading", note="two words", models=["a", "b"]))
    assert spaced.endswith('loading  note="two words" models=["a","b"]')
    started = text.format(record("uvicorn.error", "Application startup complete."))
    assert started.split(" ", 1)[1] == "INFO  uvicorn  Application startup complete."
    warned = text.format(record("openmaas.app", "careful", level=logging.WARNING))
    assert warned.split(" ", 1)[1] == "WARN  app  careful"


def test_a_traceback_follows_its_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        failed = logging.getLogger("openmaas.engines.manager").makeRecord(
            "openmaas.engines.manager", logging.ERROR, __file__, 1, "model failed", (), sys.exc_info()
        )
    lines = TextFormatter(color=False).format(failed).splitlines()
    assert lines[0].split(" ", 1)[1] == "ERROR engines.manager  model failed"
    assert lines[1] == "Traceback (most recent call last):" and lines[-1] == "ValueError: boom"


def test_json_lines_carry_the_same_fields(in_a_request: str) -> None:
    line = JsonFormatter().format(record("openmaas.access", "request", **ACCESS))
    entry = json.loads(line)
    assert {k: entry[k] for k in ACCESS} == ACCESS
    assert (entry["level"], entry["logger"], entry["request_id"]) == ("info", "openmaas.access", in_a_request)


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_auto_is_text_on_a_terminal_and_json_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    on_terminal = log_formatter("auto", Terminal())
    assert isinstance(on_terminal, TextFormatter) and on_terminal.color
    assert isinstance(log_formatter("auto", io.StringIO()), JsonFormatter)
    assert isinstance(log_formatter("json", Terminal()), JsonFormatter)
    to_a_file = log_formatter("text", io.StringIO())
    assert isinstance(to_a_file, TextFormatter) and not to_a_file.color
    monkeypatch.setenv("NO_COLOR", "1")
    no_color = log_formatter("text", Terminal())
    assert isinstance(no_color, TextFormatter) and not no_color.color


def test_python_warnings_come_out_in_the_log_format() -> None:
    """A library's warning on stderr would break a collector's JSON lines: it becomes a record too."""
    code = (
        "import warnings; from openmaas.logs import configure_logging; configure_logging('INFO', 'json'); "
        "warnings.warn('past_key_values is deprecated', FutureWarning)"
    )
    command = [sys.executable, "-c", code]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    entry = json.loads(result.stderr)
    assert (entry["level"], entry["logger"]) == ("warning", "py.warnings")
    assert "FutureWarning: past_key_values is deprecated" in entry["msg"]
