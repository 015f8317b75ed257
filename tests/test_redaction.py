"""The log keeps nothing a caller could use to flood it or to steal from it (openmaas.redaction)."""

from __future__ import annotations

import io
import json
import logging

from openmaas.access.tokens import new_token
from openmaas.logs import JsonFormatter
from openmaas.redaction import MAX_FIELD, RedactingFilter, bounded, clean, redact


def test_tokens_and_credentials_are_redacted_keeping_the_prefix() -> None:
    token = new_token()
    text = f"model {token} / Authorization: Bearer {token} / {token.replace('-', '').replace('ms', 'ms-', 1)}"
    hidden = redact(text + " / sk-abcdefghijklmnopqrstuvwx / BEARER abc.def")
    assert token[3:] not in hidden and token.replace("-", "")[2:] not in hidden
    assert f"{token[:11]}-<redacted>" in hidden
    assert "Bearer <redacted>" in hidden and "BEARER <redacted>" in hidden and "sk-<redacted>" in hidden
    assert redact("ms-1b9d6bcd is a prefix, not a token") == "ms-1b9d6bcd is a prefix, not a token"


def test_long_text_is_cut_without_leaking_a_token_across_the_cut() -> None:
    token = new_token()
    text = "x" * (MAX_FIELD - 10) + token + "y" * 10_000
    cut = bounded(text)
    assert len(cut) < MAX_FIELD + 40 and f"({len(text)} characters)" in cut
    assert token[11:20] not in cut


def test_values_a_json_encoder_refuses_are_made_safe() -> None:
    assert clean("a\ud800b") == "a\\ud800b"
    assert clean(2**70) == str(2**70) and clean(-5) == -5 and clean(True) is True
    assert clean(list(range(1000))) == list(range(50))
    assert clean({"k" * 500: "v"}) == {bounded("k" * 500, 64): "v"}


def test_a_record_is_cleaned_before_any_formatter_sees_it() -> None:
    token = new_token()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise ValueError(f"bad model {token}\ud800")
        except ValueError:
            logger.exception("failed for %s", token, extra={"model": token * 500, "n": 2**65})
    finally:
        logger.removeHandler(handler)
    line = stream.getvalue()
    assert token not in line and token[3:] not in line
    entry = json.loads(line)
    assert entry["msg"] == f"failed for {token[:11]}-<redacted>"
    assert len(entry["model"]) < MAX_FIELD + 40 and entry["n"] == str(2**65)
    assert "ValueError: bad model ms-" in entry["exception"] and "\\ud800" in entry["exception"]
