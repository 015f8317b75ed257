"""Signed, expiring URLs: output files are fetched with a bare GET, without an Authorization header.

A URL carries `expires` (Unix seconds) and `signature`, the HMAC-SHA256 of the path and the expiry under
a server secret. The secret is created once, with owner-only permissions, in the data dir
(`url-signing.key`); every process sharing the data dir signs and checks with it, and URLs stay valid
across restarts. A wrong signature or a past expiry is refused with 403.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

from openmaas.domain.errors import PermissionDenied

KEY_FILE = "url-signing.key"
# What a URL this server signed carries: Unix seconds in ASCII digits, and a hex SHA-256. Anything else
# (non-ASCII digits that `isdigit` accepts, thousands of digits `int` refuses) is no signature of ours.
_EXPIRES = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")


def load_or_create_secret(data_dir: Path) -> bytes:
    """The data dir's signing secret, created on first use (0600). Safe when processes race."""
    path = data_dir / KEY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_hex(32))
    for _ in range(50):  # another process may have created it an instant ago and be writing it
        text = path.read_text().strip()
        if text:
            return bytes.fromhex(text)
        time.sleep(0.01)
    raise RuntimeError(f"{path} is empty; delete it to create a new URL signing key")


class UrlSigner:
    def __init__(self, secret: bytes, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self._clock = clock

    def _signature(self, path: str, expires: int) -> str:
        return hmac.new(self._secret, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def sign(self, path: str, ttl_seconds: int) -> str:
        """`path` with the query string that makes it fetchable for `ttl_seconds`."""
        expires = int(self._clock()) + ttl_seconds
        return f"{path}?{urlencode({'expires': expires, 'signature': self._signature(path, expires)})}"

    def verify(self, path: str, expires: str | None, signature: str | None) -> None:
        """Raise 403 unless `signature` is this server's for `path` and `expires` is in the future."""
        if not expires or not signature:
            raise PermissionDenied(
                "This URL is not signed; use the URL the task returned.", code="unsigned_url"
            )
        if not _EXPIRES.fullmatch(expires) or not _SIGNATURE.fullmatch(signature):
            raise PermissionDenied("The URL's signature is not valid.", code="invalid_signature")
        if not hmac.compare_digest(self._signature(path, int(expires)), signature):
            raise PermissionDenied("The URL's signature is not valid.", code="invalid_signature")
        if int(expires) < self._clock():
            raise PermissionDenied(
                "The URL has expired; read the task again for a fresh one.", code="expired_url"
            )
