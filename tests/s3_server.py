"""A local S3-compatible server for the tests: moto in server mode, on 127.0.0.1, checking presigned URLs.

moto stores and serves objects like S3 but does not check query-string (presigned) signatures or their
expiry, which is what an output URL's life depends on. This server puts moto behind the check S3 makes
for a presigned GET or HEAD: the SigV4 signature recomputed over the request with the known test
credentials (so a tampered URL, another host or another key is refused) and the expiry
(`X-Amz-Date` + `X-Amz-Expires`); a failure is S3's 403 `AccessDenied`. Requests signed in the
Authorization header (the SDK's own calls) go to moto unchanged.

    python -m tests.s3_server PORT
"""

from __future__ import annotations

import hashlib
import hmac
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key-0123456789"
REGION = "us-east-1"

StartResponse = Callable[..., Any]


def _denied(start_response: StartResponse, message: str) -> list[bytes]:
    body = f"<Error><Code>AccessDenied</Code><Message>{message}</Message></Error>"
    start_response("403 Forbidden", [("Content-Type", "application/xml")])
    return [body.encode()]


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def presigned_problem(method: str, raw_path: str, raw_query: str, headers: dict[str, str]) -> str | None:
    """Why S3 would refuse this presigned request, or None if it would serve it."""
    params = dict(parse_qsl(raw_query, keep_blank_values=True))
    credential = params.get("X-Amz-Credential", "")
    access_key, _, scope = credential.partition("/")
    if access_key != ACCESS_KEY:
        return "The AWS Access Key Id you provided does not exist in our records."
    signed_at = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    if time.time() > signed_at.timestamp() + int(params["X-Amz-Expires"]):
        return "Request has expired"
    pairs = [p for p in raw_query.split("&") if p and not p.startswith("X-Amz-Signature=")]
    canonical_query = "&".join(sorted(pairs))
    signed_headers = params["X-Amz-SignedHeaders"].split(";")
    canonical_headers = "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in signed_headers)
    canonical = "\n".join(
        [method, raw_path, canonical_query, canonical_headers, ";".join(signed_headers), "UNSIGNED-PAYLOAD"]
    )
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", params["X-Amz-Date"], scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    day, region, service, _ = scope.split("/")
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{SECRET_KEY}".encode(), day), region), service), "aws4_request")
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, params.get("X-Amz-Signature", "")):
        return "The request signature we calculated does not match the signature you provided."
    return None


class PresignedUrlCheck:
    def __init__(self, app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        query = environ.get("QUERY_STRING", "")
        if "X-Amz-Signature=" in query and environ["REQUEST_METHOD"] in ("GET", "HEAD"):
            raw_path = environ.get("RAW_URI", environ.get("REQUEST_URI", "")).split("?", 1)[0]
            headers = {"host": environ.get("HTTP_HOST", "")}
            problem = presigned_problem(environ["REQUEST_METHOD"], raw_path, query, headers)
            if problem is not None:
                return _denied(start_response, problem)
        return self.app(environ, start_response)


def main() -> None:
    port = int(sys.argv[1])
    app = PresignedUrlCheck(DomainDispatcherApplication(create_backend_app))
    run_simple("127.0.0.1", port, app, threaded=True)


if __name__ == "__main__":
    main()
