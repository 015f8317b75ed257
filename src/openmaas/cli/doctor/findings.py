"""What a check of `openmaas doctor` finds: one line in plain words, with a status.

`ok` and `skip` need nothing; `warn` is worth a look but the server will run; `fail` is something that
stops the server or a model from working, and its text says what to do about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["ok", "warn", "fail", "skip"]


@dataclass(frozen=True)
class Finding:
    status: Status
    subject: str
    text: str


def ok(subject: str, text: str) -> Finding:
    return Finding("ok", subject, text)


def warn(subject: str, text: str) -> Finding:
    return Finding("warn", subject, text)


def fail(subject: str, text: str) -> Finding:
    return Finding("fail", subject, text)


def skip(subject: str, text: str) -> Finding:
    return Finding("skip", subject, text)
