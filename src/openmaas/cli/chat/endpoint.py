"""The server the terminal chat talks to, and how its failures read.

Chat goes through the `openai` SDK, so any OpenAI-compatible endpoint works (OpenMaaS, ModelScope's
API-Inference, vLLM, ...). OpenMaaS's own routes — `/v1/usage` and the image tasks — go through httpx
with the same base URL and token.

Every failure becomes one line (`describe`): the status and the server's message, what the user can do
about a 401, when a 429's quota resets, and "connection refused" rather than a traceback.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Generator, Mapping
from typing import Any, Literal, cast

import httpx
import openai
from openai import omit
from openai.types.chat import ChatCompletionMessageParam

from openmaas.cli.chat.conversation import Message
from openmaas.cli.chat.parameters import Value
from openmaas.cli.chat.render import human_duration
from openmaas.domain.models import CHAT_TASKS

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
# A local CPU model may think a long time before its first token; connecting should be quick.
READ_TIMEOUT = 600.0
CONNECT_TIMEOUT = 10.0

Piece = tuple[Literal["text", "reasoning", "finish"], str]


class StatusError(Exception):
    """An error answer from one of OpenMaaS's own routes (usage, image tasks)."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str]) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


class ChatFailure(Exception):
    """A failure already described in one line for the user."""


class Endpoint:
    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = openai.OpenAI(
            base_url=self.base_url, api_key=api_key, max_retries=0, timeout=READ_TIMEOUT
        )
        self.http = httpx.Client(
            base_url=self.base_url + "/",
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
        )

    def close(self) -> None:
        self.http.close()
        self.client.close()

    def models(self) -> list[tuple[str, str | None]]:
        """(id, task) of every listed model; the task is None where the server does not say."""
        listed = []
        for model in self.client.models.list():
            task = (model.model_extra or {}).get("task")
            listed.append((model.id, task if isinstance(task, str) else None))
        return listed

    def default_chat_model(self) -> str:
        models = self.models()
        for model_id, task in models:
            if task in CHAT_TASKS:
                return model_id
        raise ChatFailure(
            f"{self.base_url} lists no chat model I can pick by itself: choose one with --model"
            + (f" (it lists e.g. {models[0][0]})" if models else "")
        )

    def stream(
        self, model: str, messages: list[Message], parameters: Mapping[str, Value] | None = None
    ) -> Generator[Piece, None, None]:
        """The answer's pieces as they arrive: ("reasoning", text) for thinking, ("text", text), and
        ("finish", reason) at the end. `parameters`: max_tokens, temperature, top_p, seed to send."""
        sent = cast(list[ChatCompletionMessageParam], messages)
        options = dict(parameters or {})
        with self.client.chat.completions.create(
            model=model,
            messages=sent,
            stream=True,
            max_tokens=int(options["max_tokens"]) if "max_tokens" in options else omit,
            temperature=options.get("temperature", omit),
            top_p=options.get("top_p", omit),
            seed=int(options["seed"]) if "seed" in options else omit,
        ) as stream:
            for chunk in stream:
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                reasoning = (choice.delta.model_extra or {}).get("reasoning_content")
                if isinstance(reasoning, str) and reasoning:
                    yield "reasoning", reasoning
                if choice.delta.content:
                    yield "text", choice.delta.content
                if choice.finish_reason:
                    yield "finish", choice.finish_reason

    def request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise StatusError(response.status_code, _error_message(response), response.headers)
        try:
            return response.json()
        except ValueError as exc:
            raise StatusError(response.status_code, "the answer is not JSON", response.headers) from exc

    def usage(self) -> dict[str, Any]:
        body = self.request_json("GET", "usage")
        if not isinstance(body, dict):
            raise StatusError(200, "the usage answer is not an object", {})
        return body


def _error_message(response: httpx.Response) -> str:
    with contextlib.suppress(ValueError):
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
    return response.reason_phrase or f"HTTP {response.status_code}"


def describe(exc: BaseException, base_url: str) -> str:
    """One line saying what went wrong, for any failure talking to the server."""
    if isinstance(exc, ChatFailure):
        return str(exc)
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        message = body.get("message") if isinstance(body.get("message"), str) else exc.message
        return status_line(exc.status_code, str(message), exc.response.headers)
    if isinstance(exc, StatusError):
        return status_line(exc.status, exc.message, exc.headers)
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError):
        reason = _connection_reason(exc)
        hint = " — is the server running? (start one with `openmaas serve`)" if reason == "refused" else ""
        return f"cannot connect to {base_url}: connection {reason}{hint}"
    if isinstance(exc, openai.APIError):  # an error reported in the middle of a stream
        return f"the server stopped the answer: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def status_line(status: int, message: str, headers: Mapping[str, str]) -> str:
    message = message.strip() or "no details"
    if status == 401:
        return f"401 unauthorized: {message} (set OPENMAAS_API_KEY or pass --api-key with a valid token)"
    if status == 429:
        line = f"429 quota exceeded: {message}"
        retry_after = headers.get("retry-after", "")
        if "reset" not in message.lower() and retry_after.isdigit():
            line += f" (try again in {human_duration(int(retry_after))})"
        return line
    names = {403: "forbidden", 404: "not found", 400: "bad request", 413: "too large", 503: "unavailable"}
    return f"{status} {names.get(status, 'error')}: {message}"


def _connection_reason(exc: BaseException) -> str:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "refused"
        if isinstance(seen, socket.gaierror):
            return "failed: unknown host"
        if isinstance(seen, TimeoutError | openai.APITimeoutError | httpx.TimeoutException):
            return "timed out"
        seen = seen.__cause__ or seen.__context__
    return "failed"
