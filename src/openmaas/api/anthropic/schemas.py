"""The Anthropic Messages request on the wire, and its translation to the internal `ChatRequest`.

Content blocks map onto the same internal messages the OpenAI dialect produces: `text` and `image`
blocks become parts of a message, `tool_use` blocks become the assistant's tool calls, and each
`tool_result` block becomes its own `tool` message (placed before the rest of the user turn). Earlier
`thinking` blocks are not sent back to the model.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from pydantic import Field

from openmaas.api.wire import Lenient, dumps
from openmaas.domain.chat import (
    ChatRequest,
    ContentPart,
    ImagePart,
    Message,
    Reasoning,
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


class TextBlock(Lenient):
    type: Literal["text"]
    text: str


class Base64Source(Lenient):
    type: Literal["base64"]
    media_type: str
    data: str = Field(min_length=1)


class URLSource(Lenient):
    type: Literal["url"]
    url: str = Field(min_length=1)


class ImageBlock(Lenient):
    type: Literal["image"]
    source: Annotated[Base64Source | URLSource, Field(discriminator="type")]

    def part(self, field: str) -> ImagePart:
        """The image as a message part; `field` is where the block is in the request."""
        source = self.source
        if isinstance(source, Base64Source):
            return ImagePart(url=f"data:{source.media_type};base64,{source.data}", field=f"{field}.source")
        return ImagePart(url=source.url, field=f"{field}.source.url")


class ToolUseBlock(Lenient):
    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any] = Field(default_factory=dict)


class ToolResultBlock(Lenient):
    type: Literal["tool_result"]
    tool_use_id: str
    content: str | list[TextBlock | ImageBlock] = ""
    is_error: bool = False

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(b.text for b in self.content if isinstance(b, TextBlock))


class ThinkingBlock(Lenient):
    type: Literal["thinking", "redacted_thinking"]


Block = Annotated[
    TextBlock | ImageBlock | ToolUseBlock | ToolResultBlock | ThinkingBlock, Field(discriminator="type")
]


class MessageIn(Lenient):
    role: Literal["user", "assistant"]
    content: str | list[Block]


class ToolIn(Lenient):
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str = ""
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    type: Literal["custom"] | None = None


class ToolChoiceIn(Lenient):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool = False


class ThinkingIn(Lenient):
    type: Literal["enabled", "disabled", "adaptive"]
    budget_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS_CEILING)


class MessagesRequest(Lenient):
    model: str = Field(min_length=1)
    messages: list[MessageIn] = Field(min_length=1)
    max_tokens: int = Field(ge=1, le=MAX_TOKENS_CEILING)
    system: str | list[TextBlock] | None = None
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, gt=0, le=1)
    top_k: int | None = Field(default=None, ge=0, le=1_000_000)
    stop_sequences: list[str] | None = Field(default=None, max_length=MAX_STOP_SEQUENCES)
    stream: bool = False
    tools: list[ToolIn] | None = None
    tool_choice: ToolChoiceIn | None = None
    thinking: ThinkingIn | None = None

    def to_internal(self) -> ChatRequest:
        if self.model_extra:
            log.debug("ignored unknown request fields", extra={"fields": sorted(self.model_extra)})
        messages: list[Message] = []
        if self.system:
            system = self.system if isinstance(self.system, str) else "".join(b.text for b in self.system)
            messages.append(Message(role="system", content=(TextPart(system),)))
        for index, message in enumerate(self.messages):
            messages.extend(_translate(index, message))
        return ChatRequest(
            model=self.model,
            messages=tuple(messages),
            sampling=Sampling(
                temperature=self.temperature,
                top_p=self.top_p,
                top_k=self.top_k or 0,
                max_tokens=self.max_tokens,
                stop=tuple(s for s in self.stop_sequences or () if s),
            ),
            tools=tuple(ToolSpec(t.name, t.description, t.input_schema) for t in self.tools or ()),
            tool_choice=self._tool_choice(),
            reasoning=self._reasoning(),
        )

    def _tool_choice(self) -> ToolChoice:
        names = {t.name for t in self.tools or ()}
        choice = self.tool_choice
        if choice is None:
            return ToolChoice(mode="auto" if names else "none")
        if choice.type == "none":
            return ToolChoice(mode="none")
        if choice.type in ("any", "tool") and not names:
            raise InvalidRequest(f"tool_choice.type {choice.type!r} needs `tools`", param="tool_choice")
        if choice.type == "tool":
            if choice.name not in names:
                raise InvalidRequest(
                    f"tool_choice names the tool {choice.name!r}, which is not in `tools`",
                    param="tool_choice.name",
                )
            return ToolChoice(mode="required", name=choice.name, parallel=False)
        parallel = not choice.disable_parallel_tool_use
        return ToolChoice(mode="required" if choice.type == "any" else "auto", parallel=parallel)

    def _reasoning(self) -> Reasoning:
        if self.thinking is None:
            return Reasoning()
        if self.thinking.type == "disabled":
            return Reasoning(enabled=False)
        budget = self.thinking.budget_tokens
        if budget is not None and budget >= self.max_tokens:
            raise InvalidRequest(
                "thinking.budget_tokens must be less than max_tokens", param="thinking.budget_tokens"
            )
        return Reasoning(enabled=True, budget_tokens=budget)


def _translate(index: int, message: MessageIn) -> list[Message]:
    """One wire message → internal messages (tool results become `tool` messages of their own)."""
    if isinstance(message.content, str):
        return [Message(role=message.role, content=(TextPart(message.content),))]
    parts: list[ContentPart] = []
    calls: list[ToolCall] = []
    results: list[Message] = []
    for position, block in enumerate(message.content):
        if isinstance(block, TextBlock):
            parts.append(TextPart(block.text))
        elif isinstance(block, ImageBlock):
            if message.role != "user":
                raise InvalidRequest(
                    f"messages.{index}: images may only appear in user messages",
                    param=f"messages.{index}.content",
                )
            parts.append(block.part(f"messages.{index}.content.{position}"))
        elif isinstance(block, ToolUseBlock):
            if message.role != "assistant":
                raise InvalidRequest(
                    f"messages.{index}: tool_use blocks belong to assistant messages",
                    param=f"messages.{index}.content",
                )
            calls.append(ToolCall(block.id, block.name, dumps(block.input).decode()))
        elif isinstance(block, ToolResultBlock):
            if message.role != "user":
                raise InvalidRequest(
                    f"messages.{index}: tool_result blocks belong to user messages",
                    param=f"messages.{index}.content",
                )
            text = ("Error: " if block.is_error else "") + block.text()
            results.append(Message(role="tool", content=(TextPart(text),), tool_call_id=block.tool_use_id))
    translated = list(results)
    if parts or calls or not results:
        translated.append(Message(role=message.role, content=tuple(parts), tool_calls=tuple(calls)))
    return translated
