"""The OpenAI chat-completions request on the wire, and its translation to the internal `ChatRequest`.

Lenient where OpenAI clients are (unknown fields are accepted, ignored and logged by name), strict on
what we use: every value we act on has a type and a range, and a violation is a 400 naming the field.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from pydantic import Field

from openmaas.api.wire import Lenient
from openmaas.domain.chat import (
    ChatRequest,
    ContentPart,
    ImagePart,
    Message,
    Reasoning,
    ResponseFormat,
    Sampling,
    TextPart,
    ToolCall,
    ToolChoice,
    ToolSpec,
)
from openmaas.domain.errors import InvalidRequest

log = logging.getLogger(__name__)

MAX_TOKENS_CEILING = 1_000_000
MAX_STOP_SEQUENCES = 16
MAX_CHOICES = 8


class TextContent(Lenient):
    type: Literal["text"]
    text: str


class ImageURL(Lenient):
    url: str = Field(min_length=1)
    detail: str | None = None


class ImageContent(Lenient):
    type: Literal["image_url"]
    image_url: ImageURL


Part = Annotated[TextContent | ImageContent, Field(discriminator="type")]


class FunctionCall(Lenient):
    name: str
    arguments: str = ""


class ToolCallIn(Lenient):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessageIn(Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[Part] | None = None
    name: str | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None


class StreamOptions(Lenient):
    include_usage: bool = False


class FunctionSpec(Lenient):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class ToolIn(Lenient):
    type: Literal["function"]
    function: FunctionSpec


class NamedFunction(Lenient):
    name: str


class NamedToolChoice(Lenient):
    type: Literal["function"]
    function: NamedFunction


class JsonSchemaFormat(Lenient):
    name: str = "response"
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    strict: bool | None = None


class ResponseFormatIn(Lenient):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


class ChatTemplateKwargs(Lenient):
    enable_thinking: bool | None = None


class ChatCompletionRequest(Lenient):
    model: str = Field(min_length=1)
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    top_k: int | None = Field(default=None, ge=0, le=1_000_000)
    max_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS_CEILING)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS_CEILING)
    stop: str | list[str] | None = None
    seed: int | None = Field(default=None, ge=-(2**63), le=2**64 - 1)
    n: int = Field(default=1, ge=1, le=MAX_CHOICES)
    presence_penalty: float = Field(default=0.0, ge=-2, le=2)
    frequency_penalty: float = Field(default=0.0, ge=-2, le=2)
    repetition_penalty: float | None = Field(default=None, gt=0, le=2)
    response_format: ResponseFormatIn | None = None
    tools: list[ToolIn] | None = None
    tool_choice: Literal["auto", "none", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool = True
    user: str | None = None
    enable_thinking: bool | None = None
    thinking_budget: int | None = Field(default=None, ge=0, le=MAX_TOKENS_CEILING)
    chat_template_kwargs: ChatTemplateKwargs | None = None

    @property
    def include_usage(self) -> bool:
        return bool(self.stream and self.stream_options and self.stream_options.include_usage)

    def to_internal(self) -> ChatRequest:
        if self.model_extra:
            log.debug("ignored unknown request fields", extra={"fields": sorted(self.model_extra)})
        return ChatRequest(
            model=self.model,
            messages=tuple(_message(i, m) for i, m in enumerate(self.messages)),
            sampling=self._sampling(),
            tools=tuple(
                ToolSpec(t.function.name, t.function.description, t.function.parameters)
                for t in self.tools or ()
            ),
            tool_choice=self._tool_choice(),
            response_format=self._response_format(),
            reasoning=self._reasoning(),
            n=self.n,
            stream=bool(self.stream),
        )

    def _sampling(self) -> Sampling:
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or ())
        if len(stops) > MAX_STOP_SEQUENCES:
            raise InvalidRequest(f"stop: at most {MAX_STOP_SEQUENCES} sequences are allowed", param="stop")
        return Sampling(
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k or 0,
            seed=self.seed,
            max_tokens=self.max_completion_tokens or self.max_tokens,
            stop=tuple(s for s in stops if s),
            presence_penalty=self.presence_penalty,
            frequency_penalty=self.frequency_penalty,
            repetition_penalty=self.repetition_penalty,
        )

    def _tool_choice(self) -> ToolChoice:
        choice = self.tool_choice
        names = {t.function.name for t in self.tools or ()}
        if isinstance(choice, NamedToolChoice):
            if choice.function.name not in names:
                raise InvalidRequest(
                    f"tool_choice names the function {choice.function.name!r}, which is not in `tools`",
                    param="tool_choice",
                )
            return ToolChoice(mode="required", name=choice.function.name, parallel=False)
        if choice == "required" and not names:
            raise InvalidRequest("tool_choice is 'required' but no tools were given", param="tool_choice")
        return ToolChoice(mode=choice or ("auto" if names else "none"), parallel=self.parallel_tool_calls)

    def _response_format(self) -> ResponseFormat:
        fmt = self.response_format
        if fmt is None or fmt.type == "text":
            return ResponseFormat()
        if fmt.type == "json_object":
            return ResponseFormat(kind="json_object")
        if fmt.json_schema is None or not fmt.json_schema.schema_:
            raise InvalidRequest(
                "response_format.json_schema.schema is required for type json_schema",
                param="response_format.json_schema",
            )
        return ResponseFormat(kind="json_schema", schema=fmt.json_schema.schema_, name=fmt.json_schema.name)

    def _reasoning(self) -> Reasoning:
        enabled = self.enable_thinking
        if enabled is None and self.chat_template_kwargs is not None:
            enabled = self.chat_template_kwargs.enable_thinking
        return Reasoning(enabled=enabled, budget_tokens=self.thinking_budget)


def _parts(index: int, content: str | list[Part] | None) -> tuple[ContentPart, ...]:
    if content is None:
        return ()
    if isinstance(content, str):
        return (TextPart(content),)
    return tuple(
        TextPart(p.text)
        if isinstance(p, TextContent)
        else ImagePart(url=p.image_url.url, field=f"messages.{index}.content.{j}.image_url.url")
        for j, p in enumerate(content)
    )


def _message(index: int, message: ChatMessageIn) -> Message:
    role = "system" if message.role == "developer" else message.role
    parts = _parts(index, message.content)
    if role in ("system", "tool") and any(isinstance(p, ImagePart) for p in parts):
        raise InvalidRequest(
            f"messages.{index}: a {role} message cannot contain images", param=f"messages.{index}"
        )
    if role == "tool" and not message.tool_call_id:
        raise InvalidRequest(
            f"messages.{index}: a tool message needs tool_call_id", param=f"messages.{index}.tool_call_id"
        )
    calls = tuple(ToolCall(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or ())
    if calls and role != "assistant":
        raise InvalidRequest(
            f"messages.{index}: only assistant messages carry tool_calls",
            param=f"messages.{index}.tool_calls",
        )
    return Message(
        role=role, content=parts, tool_calls=calls, tool_call_id=message.tool_call_id, name=message.name
    )
