"""Our `ChatRequest` as an OpenAI-compatible request body, and an upstream's answer as `ChatEvent`s.

Upstreams differ in small ways, all accepted here: the thinking text arrives as `reasoning_content`
(DeepSeek, SGLang, older vLLM) or `reasoning` (newer vLLM, Ollama, OpenRouter); usage may come in the
last chunk (`stream_options.include_usage`) or not at all; a finish chunk may precede the usage chunk.
The stream is the hot path: a chunk is parsed with orjson and read with plain dict lookups.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from openmaas.domain.chat import (
    ChatEvent,
    ChatRequest,
    Finish,
    FinishReason,
    ImagePart,
    Message,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
)

_FINISH: dict[str, FinishReason] = {"stop": "stop", "length": "length", "tool_calls": "tool_calls"}


def _content(message: Message) -> str | list[dict[str, Any]]:
    if not message.images:
        return message.text
    parts: list[dict[str, Any]] = []
    for part in message.content:
        if isinstance(part, ImagePart):
            parts.append({"type": "image_url", "image_url": {"url": _image_url(part)}})
        else:
            parts.append({"type": "text", "text": part.text})
    return parts


def _image_url(part: ImagePart) -> str:
    """The fetched bytes as a data: URI (the upstream never fetches a client's URL), else the URL."""
    if part.data is None:
        return part.url
    return f"data:{part.media_type or 'image/png'};base64,{base64.b64encode(part.data).decode()}"


def _message(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": _content(message)}
    if message.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
        if not out["content"]:
            out["content"] = None
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        out["name"] = message.name
    return out


def request_body(request: ChatRequest, model: str) -> dict[str, Any]:
    """The upstream request. A non-streamed client request is asked for whole (one JSON to parse)."""
    sampling = request.sampling
    body: dict[str, Any] = {
        "model": model,
        "messages": [_message(m) for m in request.messages],
        "stream": request.stream,
    }
    if sampling.temperature is not None:
        body["temperature"] = sampling.temperature
    if sampling.top_p is not None:
        body["top_p"] = sampling.top_p
    if request.stream:
        body["stream_options"] = {"include_usage": True}
    if sampling.max_tokens is not None:
        body["max_tokens"] = sampling.max_tokens
    if sampling.top_k:
        body["top_k"] = sampling.top_k  # vLLM, SGLang and Ollama accept it; OpenAI ignores it
    if sampling.seed is not None:
        body["seed"] = sampling.seed
    if sampling.stop:
        body["stop"] = list(sampling.stop)
    if sampling.presence_penalty:
        body["presence_penalty"] = sampling.presence_penalty
    if sampling.frequency_penalty:
        body["frequency_penalty"] = sampling.frequency_penalty
    if sampling.repetition_penalty is not None:
        body["repetition_penalty"] = sampling.repetition_penalty  # vLLM and SGLang accept it
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
            }
            for t in request.tools
        ]
        choice = request.tool_choice
        body["tool_choice"] = (
            {"type": "function", "function": {"name": choice.name}} if choice.name else choice.mode
        )
        if not choice.parallel:
            body["parallel_tool_calls"] = False
    response_format = request.response_format
    if response_format.kind == "json_object":
        body["response_format"] = {"type": "json_object"}
    elif response_format.kind == "json_schema":
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": response_format.name or "answer", "schema": response_format.schema or {}},
        }
    reasoning = request.reasoning
    if reasoning.enabled is not None:
        # vLLM and SGLang pass these to the chat template (Qwen3, DeepSeek-R1 and others).
        body["chat_template_kwargs"] = {"enable_thinking": reasoning.enabled}
        if reasoning.budget_tokens is not None:
            body["thinking_budget"] = reasoning.budget_tokens
    return body


class StreamReader:
    """Turns the chunks of one streamed answer into events; `Finish` and `Usage` come at the end."""

    def __init__(self) -> None:
        self.finish: Finish | None = None
        self.usage: Usage | None = None
        self.deltas = 0

    def chunk(self, chunk: dict[str, Any]) -> Iterator[ChatEvent]:
        usage = chunk.get("usage")
        if usage:
            self.usage = Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
        choices = chunk.get("choices")
        if not choices:
            return
        choice = choices[0]
        delta = choice.get("delta")
        if delta:
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if reasoning:
                self.deltas += 1
                yield ReasoningDelta(reasoning)
            text = delta.get("content")
            if text:
                self.deltas += 1
                yield TextDelta(text)
            calls = delta.get("tool_calls")
            if calls:
                self.deltas += 1
                yield from _tool_call_deltas(calls)
        reason = choice.get("finish_reason")
        if reason:
            stop = choice.get("stop_reason")
            self.finish = Finish(_FINISH.get(reason, "stop"), stop if isinstance(stop, str) else None)

    def end(self, prompt_estimate: int) -> Iterator[ChatEvent]:
        yield self.finish or Finish("stop")
        yield self.usage or Usage(prompt_estimate, self.deltas)


def _tool_call_deltas(calls: list[dict[str, Any]]) -> Iterator[ToolCallDelta]:
    for position, call in enumerate(calls):
        function = call.get("function") or {}
        yield ToolCallDelta(
            index=int(call.get("index", position)),
            arguments=function.get("arguments") or "",
            id=call.get("id"),
            name=function.get("name"),
        )


def completion_events(body: dict[str, Any], prompt_estimate: int) -> Iterator[ChatEvent]:
    """A whole `chat.completion` answer as events."""
    choices = body.get("choices") or [{}]
    choice = choices[0]
    message = choice.get("message") or {}
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    produced = 0
    if reasoning:
        produced += 1
        yield ReasoningDelta(reasoning)
    if message.get("content"):
        produced += 1
        yield TextDelta(message["content"])
    calls = message.get("tool_calls")
    if calls:
        produced += 1
        yield from _tool_call_deltas(calls)
    reason = choice.get("finish_reason") or "stop"
    stop = choice.get("stop_reason")
    yield Finish(_FINISH.get(reason, "stop"), stop if isinstance(stop, str) else None)
    usage = body.get("usage")
    if usage:
        yield Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
    else:
        yield Usage(prompt_estimate, produced)
