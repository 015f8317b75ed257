"""A fast fake OpenAI-compatible upstream for the benchmarks: what vLLM would be, minus the model.

`POST /v1/chat/completions` answers `max_tokens` words (default 64), whole or as a stream of chunks
(with a usage chunk when asked); `GET /v1/models` lists `bench-model`. The model `bench-slow` answers
the same, at `SLOW_TOKEN_SECONDS` per token (like a model on a GPU), to measure the latency a gateway
adds when it is not the bottleneck. Answers are encoded once per
(model, length) and cached, so the upstream costs little next to what is measured. Every chunk has its
own text (some gateways abort streams that repeat the same chunk).

    python -m bench.fake_upstream --port 8001
"""

from __future__ import annotations

import argparse
import asyncio
import functools
from collections.abc import AsyncIterator

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

PROMPT_TOKENS = 12
SLOW_MODEL = "bench-slow"
SLOW_TOKEN_SECONDS = 0.005
MODELS = orjson.dumps(
    {"object": "list", "data": [{"id": "bench-model", "object": "model", "owned_by": "fake"}]}
)


def _usage(count: int) -> dict[str, int]:
    return {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": count, "total_tokens": PROMPT_TOKENS + count}


@functools.lru_cache(maxsize=64)
def whole(model: str, count: int) -> bytes:
    message = {"role": "assistant", "content": "".join(f" w{i}" for i in range(count)).lstrip()}
    choice = {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
    body = {"id": "chatcmpl-fake", "object": "chat.completion", "created": 1, "model": model}
    return orjson.dumps({**body, "choices": [choice], "usage": _usage(count)})


def _chunk(model: str, choices: list[object], usage: object = None) -> bytes:
    chunk = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": model,
        "choices": choices,
    }
    if usage is not None:
        chunk["usage"] = usage
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


@functools.lru_cache(maxsize=64)
def streamed(model: str, count: int, include_usage: bool) -> tuple[bytes, ...]:
    def delta(content: str, role: bool = False) -> list[object]:
        d = {"role": "assistant", "content": content} if role else {"content": content}
        return [{"index": 0, "delta": d, "finish_reason": None, "logprobs": None}]

    events = [_chunk(model, delta("w0", role=True))]
    events += [_chunk(model, delta(f" w{i}")) for i in range(1, count)]
    events.append(_chunk(model, [{"index": 0, "delta": {}, "finish_reason": "stop", "logprobs": None}]))
    if include_usage:
        events.append(_chunk(model, [], _usage(count)))
    events.append(b"data: [DONE]\n\n")
    return tuple(events)


async def chat(request: Request) -> Response:
    body = orjson.loads(await request.body())
    model = str(body.get("model") or "bench-model")
    count = max(1, min(int(body.get("max_tokens") or body.get("max_completion_tokens") or 64), 16384))
    delay = SLOW_TOKEN_SECONDS if model == SLOW_MODEL else 0.0
    if not body.get("stream"):
        if delay:
            await asyncio.sleep(delay * count)
        return Response(whole(model, count), media_type="application/json")
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

    async def events() -> AsyncIterator[bytes]:
        for event in streamed(model, count, include_usage):
            if delay:
                await asyncio.sleep(delay)
            yield event

    return StreamingResponse(events(), media_type="text/event-stream")


async def models(request: Request) -> Response:
    return Response(MODELS, media_type="application/json")


app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]), Route("/v1/models", models)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False, backlog=2048)


if __name__ == "__main__":
    main()
