"""What the log may hold of what a caller sent: bounded text, with anything shaped like a secret hidden.

A caller controls many strings that end up in log lines: the model it asked for, the names of unknown
fields, the text of an error that quotes its input. `RedactingFilter`, installed on the log handler,
cleans every record before any formatter sees it:

- anything shaped like a token is redacted: OpenMaaS tokens (`ms-` + a UUID; the 8-digit prefix that
  listings show is kept, so an operator can revoke a token that leaked into a request), `Bearer …`
  credentials and OpenAI-style `sk-…` keys, in the message, every field and the traceback;
- strings are cut to `MAX_FIELD` characters (messages to `MAX_MESSAGE`, tracebacks to
  `MAX_TRACEBACK`), lists and mappings to their first `MAX_ITEMS` entries;
- what a JSON encoder refuses is made safe: lone surrogates are escaped, integers beyond 64 bits become
  text.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

MAX_FIELD = 256
MAX_MESSAGE = 2000
MAX_TRACEBACK = 20000
MAX_ITEMS = 50

_SECRETS = re.compile(
    r"(?P<token>ms-[0-9a-f]{8})-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}"
    r"|(?P<scheme>bearer)\s+[^\s,;\"']+"
    r"|sk-[A-Za-z0-9_-]{16,}",
    re.IGNORECASE,
)
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
}
_INT64 = (-(2**63), 2**64 - 1)


def _hidden(match: re.Match[str]) -> str:
    if match.group("token"):
        return f"{match.group('token')}-<redacted>"
    if match.group("scheme"):
        return f"{match.group('scheme')} <redacted>"
    return "sk-<redacted>"


def redact(text: str) -> str:
    """`text` with every token-shaped substring hidden."""
    return _SECRETS.sub(_hidden, text)


def bounded(text: str, limit: int = MAX_FIELD) -> str:
    """`text` redacted, cut to `limit` characters (saying how long it was) and safe to encode."""
    if len(text) > limit:
        # Redacted before the cut (a token must not be cut in two), but never all of a huge text.
        text = f"{redact(text[: limit + 64])[:limit]}… ({len(text)} characters)"
    else:
        text = redact(text)
    try:
        text.encode()
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode()
    return text


def clean(value: Any, limit: int = MAX_FIELD) -> Any:
    """A log field's value made safe (see the module docstring); other types are left as they are."""
    if isinstance(value, str):
        return bounded(value, limit)
    if isinstance(value, bool) or not isinstance(value, int | list | tuple | set | frozenset | dict):
        return value
    if isinstance(value, int):
        return value if _INT64[0] <= value <= _INT64[1] else bounded(str(value))
    if isinstance(value, dict):
        items = list(value.items())[:MAX_ITEMS]
        return {bounded(str(key), 64): clean(item) for key, item in items}
    return [clean(item) for item in list(value)[:MAX_ITEMS]]


class RedactingFilter(logging.Filter):
    """Cleans each record in place: its message, its extra fields and its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = bounded(record.getMessage(), MAX_MESSAGE)
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                record.__dict__[key] = clean(value)
        if record.exc_info and not record.exc_text:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text = bounded(text, MAX_TRACEBACK)
        return True
