"""Logs on stderr, with the request id of the request being served: for people or for machines.

Two formats of the same records: `json` (one JSON object per line, for log collectors) and `text` (one
short line per record, coloured on a terminal, for the person watching the server). `auto`, the default,
picks `text` when stderr is a terminal and `json` otherwise (`--log-format`, `OPENMAAS_LOG_FORMAT`).

What may be logged: ids, names, model ids, counts, durations, statuses. What may not: access tokens,
Authorization headers, prompt or answer text (unless the operator sets `log_prompts`). Every record
passes `openmaas.redaction.RedactingFilter` first (bounded fields, token-shaped text redacted).
"""

from __future__ import annotations

import logging
import os
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

import orjson

from openmaas.redaction import RedactingFilter

request_id_var: ContextVar[str] = ContextVar("request_id", default="")

LogFormat = Literal["auto", "text", "json"]

# Attributes every LogRecord has; anything else passed with `extra=` is a structured field.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's ANSI-coloured copy of msg
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """What was passed with `extra=`: the record's structured fields."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}


_LEVELS = {"DEBUG": ("DEBUG", "34"), "INFO": ("INFO ", "32"), "WARNING": ("WARN ", "33")}
_ERROR = ("ERROR", "31")
_ACCESS_LOGGER = "openmaas.access"


class TextFormatter(logging.Formatter):
    """`12:03:04 INFO  engines.manager  model ready  model=Org/Name seconds=20.1`, and for the access log
    `12:03:05 INFO  POST /v1/chat/completions 200  alice  Org/Name  412 ms  req-3f2a9c1d`.

    Local wall-clock time to the second; the logger without its `openmaas.` prefix; structured fields
    as `key=value`; the request id cut to its first 8 hex digits (still a prefix of the id the client
    got). Colour only when `color` is set (a terminal without NO_COLOR).
    """

    def __init__(self, *, color: bool) -> None:
        super().__init__()
        self.color = color

    def _paint(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color and text else text

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        name, code = _LEVELS.get(record.levelname, _ERROR)
        fields = _fields(record)
        if record.name == _ACCESS_LOGGER and "status" in fields:
            body = self._access(fields)
        else:
            logger = record.name.removeprefix("openmaas.").removesuffix(".error")
            body = f"{self._paint('36', logger)}  {record.getMessage()}{self._pairs(fields)}"
        line = f"{self._paint('2', when)} {self._paint(code, name)} {body}"
        request_id = request_id_var.get()
        if request_id:
            line += "  " + self._paint("2", request_id[:12])
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line

    def _access(self, fields: dict[str, Any]) -> str:
        status = int(fields.pop("status"))
        colour = "32" if status < 400 else "33" if status < 500 else "31"
        parts = [f"{fields.pop('method', '')} {fields.pop('path', '')}", self._paint(colour, str(status))]
        error = fields.pop("error", None)
        if error:
            parts[-1] += f" {self._paint(colour, str(error))}"
        for key in ("user", "model"):
            value = fields.pop(key, "")
            if value:
                parts.append(str(value))
        duration = fields.pop("duration_ms", None)
        if duration is not None:
            parts.append(_milliseconds(float(duration)))
        return "  ".join(parts) + self._pairs(fields)

    def _pairs(self, fields: dict[str, Any]) -> str:
        if not fields:
            return ""
        return "  " + " ".join(self._paint("2", f"{k}=") + _value(v) for k, v in fields.items())


def _value(value: Any) -> str:
    """Numbers and plain words as they are; text with spaces or quotes, lists and objects as JSON."""
    if not isinstance(value, str):
        return orjson.dumps(value, default=str).decode()
    plain = value and not any(c.isspace() or c in '"=' for c in value)
    return value if plain else orjson.dumps(value).decode()


def _milliseconds(duration: float) -> str:
    return f"{duration:.0f} ms" if duration >= 10 else f"{duration:.1f} ms"


def wants_color(stream: TextIO) -> bool:
    """Colour on a terminal, unless NO_COLOR is set (https://no-color.org)."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


def log_formatter(log_format: LogFormat, stream: TextIO) -> logging.Formatter:
    """The formatter for `log_format`; `auto` is text on a terminal, JSON lines otherwise."""
    if log_format == "json" or (log_format == "auto" and not stream.isatty()):
        return JsonFormatter()
    return TextFormatter(color=wants_color(stream))


def configure_logging(level: str = "INFO", log_format: LogFormat = "auto") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(log_formatter(log_format, sys.stderr))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # Python warnings become records in the same format, not stray text
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("alembic").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def current_log_format() -> LogFormat:
    """The format this process logs in (for a child process that should log the same way)."""
    handlers = logging.getLogger().handlers
    if handlers and isinstance(handlers[0].formatter, JsonFormatter):
        return "json"
    return "text" if handlers and isinstance(handlers[0].formatter, TextFormatter) else "auto"
