"""A fake OpenAI-compatible upstream (what vLLM, SGLang or Ollama would be), served on 127.0.0.1 by
tests of the remote engine. It is a test fake standing in for a real model server; never the product.

Behaviour is set per instance and may change during a test:
- `reply`: words streamed one per chunk; `reasoning`: thinking words, sent in the field named
  `reasoning_field` (`reasoning` like newer vLLM and Ollama, or `reasoning_content`);
- `tool_call`: (name, arguments) answered as a tool call, arguments in two pieces;
- `status`: answer every chat request with this HTTP error status instead;
- `fail_after`: break the stream off after this many content chunks;
- `token_delay`: seconds between chunks; `send_usage`: include the usage chunk.
Every request body is kept in `received`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route


class FakeUpstream:
    def __init__(self, name: str = "upstream") -> None:
        self.name = name
        self.reply = "Hello from the upstream"
        self.reasoning: str | None = None
        self.reasoning_field = "reasoning"
        self.tool_call: tuple[str, str] | None = None
        self.status: int | None = None
        self.healthy = True
        self.fail_after: int | None = None
        self.token_delay = 0.0
        self.send_usage = True
        self.received: list[dict[str, Any]] = []
        #: Streams whose client went away before the end (the upstream stopped generating).
        self.aborted = 0
        self.app = Starlette(
            routes=[
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
            ]
        )

    async def _models(self, request: Request) -> Response:
        if not self.healthy:
            return Response(b"down", status_code=503)
        body = {"object": "list", "data": [{"id": "up/model", "object": "model", "owned_by": "fake"}]}
        return Response(orjson.dumps(body), media_type="application/json")

    async def _chat(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        self.received.append({**body, "_headers": dict(request.headers)})
        if self.status is not None:
            error = {"error": {"message": f"{self.name} says {self.status}", "type": "error"}}
            return Response(orjson.dumps(error), status_code=self.status, media_type="application/json")
        words = self.reply.split(" ")
        if not body.get("stream"):
            return Response(orjson.dumps(self._completion(body, words)), media_type="application/json")
        return StreamingResponse(self._stream(body, words), media_type="text/event-stream")

    def _usage(self, words: list[str]) -> dict[str, int]:
        return {"prompt_tokens": 7, "completion_tokens": len(words), "total_tokens": 7 + len(words)}

    def _completion(self, body: dict[str, Any], words: list[str]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.reply}
        if self.reasoning:
            message[self.reasoning_field] = self.reasoning
        finish = "stop"
        if self.tool_call:
            name, arguments = self.tool_call
            message["content"] = None
            message["tool_calls"] = [
                {"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}
            ]
            finish = "tool_calls"
        choice = {"index": 0, "message": message, "finish_reason": finish}
        return {
            "id": "x",
            "object": "chat.completion",
            "model": body["model"],
            "choices": [choice],
            "usage": self._usage(words),
        }

    @staticmethod
    def _chunk(delta: dict[str, Any] | None, finish: str | None = None, usage: Any = None) -> bytes:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
        chunk: dict[str, Any] = {"id": "x", "object": "chat.completion.chunk", "choices": choices}
        if usage is not None:
            chunk["usage"] = usage
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    async def _stream(self, body: dict[str, Any], words: list[str]) -> AsyncIterator[bytes]:
        yield self._chunk({"role": "assistant", "content": ""})
        for word in (self.reasoning or "").split():
            yield self._chunk({self.reasoning_field: word + " "})
        finish = "stop"
        if self.tool_call:
            name, arguments = self.tool_call
            half = len(arguments) // 2
            first = {
                "index": 0,
                "id": "call_1",
                "type": "function",
                "function": {"name": name, "arguments": arguments[:half]},
            }
            yield self._chunk({"tool_calls": [first]})
            yield self._chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[half:]}}]})
            finish = "tool_calls"
        else:
            try:
                for position, word in enumerate(words):
                    if self.fail_after is not None and position >= self.fail_after:
                        raise RuntimeError("the fake upstream breaks the stream off")
                    if self.token_delay:
                        await asyncio.sleep(self.token_delay)
                    yield self._chunk({"content": word if position == 0 else " " + word})
            except (asyncio.CancelledError, GeneratorExit):
                self.aborted += 1
                raise
        yield self._chunk({}, finish)
        if self.send_usage and (body.get("stream_options") or {}).get("include_usage"):
            yield self._chunk(None, usage=self._usage(words))
        yield b"data: [DONE]\n\n"
