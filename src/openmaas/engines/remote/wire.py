"""The internal protocol between API processes and engine workers: our own types, not a dialect.

A request is the `ChatRequest` as JSON (image bytes the API tier already fetched travel base64-encoded,
so a worker never fetches a client's URL). The answer is NDJSON, one compact array per `ChatEvent`:

    ["t", text]                       TextDelta
    ["r", text]                       ReasoningDelta
    ["c", index, arguments, id, name] ToolCallDelta
    ["f", reason, stop_sequence]      Finish
    ["u", prompt_tokens, completion_tokens]  Usage
    ["e", kind, message]              the engine failed after the answer began

Nothing is lost in translation (thinking budgets, JSON schemas, top_k), and a line costs one small
orjson call on each side.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from openmaas.domain.chat import (
    ChatEvent,
    ChatRequest,
    ContentPart,
    Finish,
    ImagePart,
    Message,
    Reasoning,
    ReasoningDelta,
    ResponseFormat,
    Sampling,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    ToolSpec,
    Usage,
)

MEDIA_TYPE = "application/x-ndjson"


class WireError(ValueError):
    """A malformed internal message (a version mismatch between API tier and worker, or a bug)."""


# ---- requests ------------------------------------------------------------------------------------


def _part(part: ContentPart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"text": part.text}
    data = base64.b64encode(part.data).decode() if part.data is not None else None
    return {"image_url": part.url, "data": data, "media_type": part.media_type}


def encode_request(request: ChatRequest) -> bytes:
    body = {
        "model": request.model,
        "messages": [
            {
                "role": m.role,
                "content": [_part(p) for p in m.content],
                "tool_calls": [[c.id, c.name, c.arguments] for c in m.tool_calls],
                "tool_call_id": m.tool_call_id,
                "name": m.name,
            }
            for m in request.messages
        ],
        "sampling": _fields(request.sampling),
        "tools": [[t.name, t.description, t.parameters] for t in request.tools],
        "tool_choice": _fields(request.tool_choice),
        "response_format": _fields(request.response_format),
        "reasoning": _fields(request.reasoning),
        "n": request.n,
        "stream": request.stream,
    }
    return orjson.dumps(body)


def _fields(value: Any) -> dict[str, Any]:
    """A slotted dataclass's fields, tuples as lists (JSON)."""
    out = {}
    for name in value.__slots__:
        item = getattr(value, name)
        out[name] = list(item) if isinstance(item, tuple) else item
    return out


def _decode_part(part: dict[str, Any]) -> ContentPart:
    if "text" in part:
        return TextPart(str(part["text"]))
    data = part.get("data")
    return ImagePart(
        url=str(part["image_url"]),
        data=base64.b64decode(data) if data else None,
        media_type=part.get("media_type"),
    )


def decode_request(raw: bytes) -> ChatRequest:
    try:
        body = orjson.loads(raw)
        messages = tuple(
            Message(
                role=m["role"],
                content=tuple(_decode_part(p) for p in m["content"]),
                tool_calls=tuple(ToolCall(*c) for c in m["tool_calls"]),
                tool_call_id=m["tool_call_id"],
                name=m["name"],
            )
            for m in body["messages"]
        )
        sampling = dict(body["sampling"])
        sampling["stop"] = tuple(sampling["stop"])
        return ChatRequest(
            model=body["model"],
            messages=messages,
            sampling=Sampling(**sampling),
            tools=tuple(ToolSpec(*t) for t in body["tools"]),
            tool_choice=ToolChoice(**body["tool_choice"]),
            response_format=ResponseFormat(**body["response_format"]),
            reasoning=Reasoning(**body["reasoning"]),
            n=int(body["n"]),
            stream=bool(body["stream"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise WireError(f"malformed internal chat request: {exc}") from exc


# ---- events --------------------------------------------------------------------------------------


def encode_event(event: ChatEvent) -> bytes:
    if isinstance(event, TextDelta):
        item: list[Any] = ["t", event.text]
    elif isinstance(event, ReasoningDelta):
        item = ["r", event.text]
    elif isinstance(event, ToolCallDelta):
        item = ["c", event.index, event.arguments, event.id, event.name]
    elif isinstance(event, Finish):
        item = ["f", event.reason, event.stop_sequence]
    else:
        item = ["u", event.prompt_tokens, event.completion_tokens]
    return orjson.dumps(item) + b"\n"


def encode_error(kind: str, message: str) -> bytes:
    return orjson.dumps(["e", kind, message]) + b"\n"


def decode_event(line: bytes) -> ChatEvent | tuple[str, str]:
    """An event, or `(kind, message)` for an error line."""
    try:
        item = orjson.loads(line)
        tag = item[0]
        if tag == "t":
            return TextDelta(item[1])
        if tag == "r":
            return ReasoningDelta(item[1])
        if tag == "c":
            return ToolCallDelta(index=item[1], arguments=item[2], id=item[3], name=item[4])
        if tag == "f":
            return Finish(item[1], item[2])
        if tag == "u":
            return Usage(int(item[1]), int(item[2]))
        if tag == "e":
            return str(item[1]), str(item[2])
    except (ValueError, IndexError, TypeError) as exc:
        raise WireError(f"malformed internal event: {exc}") from exc
    raise WireError(f"unknown internal event {tag!r}")
