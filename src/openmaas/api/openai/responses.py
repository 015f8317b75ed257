"""The bodies the OpenAI-shaped routes answer with, as models for `/openapi.json`.

The routes build these bodies directly (`format.py`, the route modules); the models document them and
the schema fuzz test (tests/api/test_openapi_fuzz.py) checks every answer against them. Optional
fields are absent rather than null where the routes leave them out.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class FunctionCallOut(BaseModel):
    name: str
    arguments: str


class ToolCallOut(BaseModel):
    id: str
    type: Literal["function"]
    function: FunctionCallOut


class AssistantMessage(BaseModel):
    role: Literal["assistant"]
    content: str | None
    reasoning_content: str | None = None
    tool_calls: list[ToolCallOut] | None = None


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: Literal["stop", "length", "tool_calls"]
    logprobs: None


class CompletionUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    """A non-streamed answer. With `stream: true` the answer is `text/event-stream` instead:
    `data: {chat.completion.chunk}` lines, then `data: [DONE]`."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    system_fingerprint: str
    choices: list[ChatChoice]
    usage: CompletionUsage


class Embedding(BaseModel):
    object: Literal["embedding"]
    index: int
    embedding: list[float] | str
    """Floats, or with `encoding_format: base64` the base64 of little-endian float32 bytes."""


class EmbeddingUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(BaseModel):
    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage


class ImageModelInfo(BaseModel):
    min_size: str
    max_size: str
    size_multiple: int
    default_size: str
    default_steps: int
    default_guidance: float
    edit: bool
    loras: list[str]


class GenerationDefaultsInfo(BaseModel):
    """What a chat request that leaves these settings open gets (docs/models.md)."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None


class ModelEntry(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    task: Literal["chat", "vision", "embedding", "image"]
    capabilities: list[str]
    context_length: int | None = None
    description: str | None = None
    image: ImageModelInfo | None = None
    generation_defaults: GenerationDefaultsInfo | None = None


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ModelEntry]


class ModelUsage(BaseModel):
    model: str
    limit: int | None
    used: int
    remaining: int
    prompt_tokens: int
    completion_tokens: int


class UsageReport(BaseModel):
    object: Literal["usage"]
    user: str
    day: str
    timezone: str
    limit: int
    used: int
    remaining: int
    reset_at: str
    reset_in_seconds: int
    models: list[ModelUsage]
