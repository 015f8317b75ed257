"""Access tokens: `ms-` followed by a UUID4, shown once; the store keeps only a SHA-256 hash.

A token carries 122 random bits, so a fast hash is safe: nobody can guess a preimage, and lookups stay
cheap on every request. The first characters (`ms-` + 8 hex digits) are kept as a prefix to recognise a
token in listings and to revoke it without the whole text.

ModelScope's own access tokens also start with `ms-`, and its examples put placeholders where the token
goes: `why_refused` tells such a caller what they sent (never echoing it) and where to get a token.
"""

from __future__ import annotations

import hashlib
import re
import uuid

PREFIX_LENGTH = 11
_TOKEN = re.compile(r"ms-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
# `<MODELSCOPE_SDK_TOKEN>`, `MODELSCOPE_ACCESS_TOKEN`, `EMPTY`, `your-api-key`, `sk-xxx`, `...`
_PLACEHOLDER = re.compile(
    r"<[^<>]*>|[A-Z][A-Z0-9_]{2,}|(?i:(your|my)[-_ ]?[\w-]*(key|token)[\w-]*|(sk-)?x{3,}|\.{3}|…)"
)
_PLACEHOLDER_MAX = 64

WHERE_TO_GET_ACCESS = (
    "Use an access token of this server: its operator creates one with `openmaas tokens create NAME` "
    "(`make serve` prints one for the user 'local')."
)


def new_token() -> str:
    return f"ms-{uuid.uuid4()}"


def is_token(text: str) -> bool:
    """True if `text` has the shape of an OpenMaaS token (says nothing about whether it is valid)."""
    return _TOKEN.fullmatch(text) is not None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_prefix(token: str) -> str:
    return token[:PREFIX_LENGTH]


def why_refused(token: str) -> str:
    """The 401 message for a token that is not a valid token of this server."""
    if token.lower().startswith("bearer "):
        why = "The token starts with 'Bearer ': give the SDK the token alone; it adds 'Bearer ' itself."
    elif token[:1] in "\"'" and token[-1:] in "\"'":
        why = "The token is wrapped in quotes: send it without them."
    elif len(token) <= _PLACEHOLDER_MAX and _PLACEHOLDER.fullmatch(token):
        why = "The access token is a placeholder from an example, not a token."
    elif token.startswith("ms-"):
        why = (
            "This access token is not valid here: this server did not issue it, or it was revoked. "
            "A ModelScope access token (from modelscope.cn) does not work on this server."
        )
    else:
        why = "This is not an OpenMaaS access token (those look like ms-1b9d6bcd-bbfd-4b2d-…)."
    return f"{why} {WHERE_TO_GET_ACCESS}"
