"""Access tokens: `ms-` followed by a UUID4, shown once; the store keeps only a SHA-256 hash.

A token carries 122 random bits, so a fast hash is safe: nobody can guess a preimage, and lookups stay
cheap on every request. The first characters (`ms-` + 8 hex digits) are kept as a prefix to recognise a
token in listings and to revoke it without the whole text.
"""

from __future__ import annotations

import hashlib
import re
import uuid

PREFIX_LENGTH = 11
_TOKEN = re.compile(r"ms-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def new_token() -> str:
    return f"ms-{uuid.uuid4()}"


def is_token(text: str) -> bool:
    """True if `text` has the shape of an OpenMaaS token (says nothing about whether it is valid)."""
    return _TOKEN.fullmatch(text) is not None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_prefix(token: str) -> str:
    return token[:PREFIX_LENGTH]
