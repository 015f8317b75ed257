"""The one ASGI middleware every HTTP request passes through.

It gives the request an id (`x-request-id` on every response, `request_id` in error bodies and logs),
refuses bodies over the size limit with 413 before they are read, and when the response is complete
records the request's metrics and writes one access-log line (status 499 for a request that ended
without a response because its client went away). It never buffers a streamed body and never logs
headers, tokens or bodies.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

from fastapi import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openmaas.domain.errors import OpenMaaSError, PayloadTooLarge
from openmaas.logs import request_id_var
from openmaas.metrics import Metrics

access_log = logging.getLogger("openmaas.access")
_PROBES = frozenset({"/healthz", "/readyz"})
#: The status logged for a request that ended with no response: its client closed the connection.
CLIENT_CLOSED = 499

ErrorForPath = Callable[[str, OpenMaaSError, str], Response]


def new_request_id() -> str:
    return f"req-{uuid.uuid4().hex}"


class RequestContextMiddleware:
    def __init__(
        self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int, render_error: ErrorForPath
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.render_error = render_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = new_request_id()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        context_token = request_id_var.set(request_id)
        status = 500
        finished = False
        header_id = [(b"x-request-id", request_id.encode())]

        async def send_with_id(message: Message) -> None:
            nonlocal status, finished
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *header_id]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = True
                self._finished(scope, status, started)

        try:
            too_large = self._declared_too_large(scope)
            if too_large is not None:
                response = self.render_error(scope["path"], too_large, request_id)
                await response(scope, receive, send_with_id)
                return
            await self.app(scope, self._limited(scope, receive), send_with_id)
            if not finished:
                self._finished(scope, CLIENT_CLOSED, started)
        finally:
            request_id_var.reset(context_token)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"The request body exceeds the limit of {self.max_body_bytes} bytes.", code="request_too_large"
        )

    def _declared_too_large(self, scope: Scope) -> PayloadTooLarge | None:
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    return None
                return self._too_large() if declared > self.max_body_bytes else None
        return None

    def _limited(self, scope: Scope, receive: Receive) -> Receive:
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # FastAPI turns any error while reading the body into a 400; the route's error
                    # handler finds the real cause here.
                    error = self._too_large()
                    scope["state"]["body_error"] = error
                    raise error
            return message

        return limited_receive

    def _finished(self, scope: Scope, status: int, started: float) -> None:
        seconds = time.perf_counter() - started
        route = scope.get("route")
        route_path = getattr(route, "path", "unmatched")
        state = scope.get("state", {})
        model = state.get("model", "")
        self.metrics.observe_request(route_path, model, status, seconds)
        # Probes come every few seconds from load balancers and Kubernetes (and /readyz answers 503 while
        # the models load): they are logged at DEBUG only.
        level = logging.DEBUG if route_path in _PROBES else logging.INFO
        access_log.log(
            level,
            "request",
            extra={
                "method": scope["method"],
                "path": route_path,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "user": state.get("user", ""),
                "model": model,
                # our own error code (see `note_error`), never text from the request
                **({"error": state["error"]} if "error" in state else {}),
            },
        )
