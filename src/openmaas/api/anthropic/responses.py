"""The bodies the Anthropic-shaped routes answer with, as models for `/openapi.json` (see
`api/openai/responses.py`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field


class TextOut(BaseModel):
    type: Literal["text"]
    text: str


class ThinkingOut(BaseModel):
    type: Literal["thinking"]
    thinking: str
    signature: str


class ToolUseOut(BaseModel):
    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any]


class MessageUsage(BaseModel):
    input_tokens: int
    output_tokens: int


class Message(BaseModel):
    """A non-streamed answer. With `stream: true` the answer is `text/event-stream` instead: the
    events `message_start`, `content_block_start`, `ping`, `content_block_delta`…,
    `content_block_stop`, `message_delta`, `message_stop` (or `error`)."""

    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    model: str
    content: list[Annotated[TextOut | ThinkingOut | ToolUseOut, Field(discriminator="type")]]
    stop_reason: Literal["end_turn", "max_tokens", "stop_sequence", "tool_use"]
    stop_sequence: str | None
    usage: MessageUsage


class TokenCount(BaseModel):
    input_tokens: int
