"""The Responses API request on the wire, and its translation to the internal `ChatRequest`.

Lenient where OpenAI clients are (unknown fields are accepted, ignored and logged by name), strict on what
we act on: every such value has a type and a range, and a violation is a 400 naming the field. Only
function tools exist here (no hosted tools such as web search), and a conversation continues through
`previous_response_id` (there is no Conversations API): both are refused with a 400 that says so.

`reasoning.effort` is the model's thinking switch: `none` turns thinking off, any other effort turns it
on; without `reasoning` the model thinks as it does by default.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field, field_validator

from openmaas.api.responses.items import InputItem, MessageItem, parse_items, to_messages
from openmaas.api.wire import Lenient
from openmaas.domain.chat import (
    ChatRequest,
    Message,
    Reasoning,
    ResponseFormat,
    Sampling,
    TextPart,
    ToolChoice,
    ToolSpec,
)
from openmaas.domain.errors import InvalidRequest

log = logging.getLogger(__name__)

MAX_TOKENS_CEILING = 1_000_000
MAX_METADATA_KEYS = 16
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")


class ToolIn(Lenient):
    type: str
    name: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None

    def echo(self) -> dict[str, Any]:
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
            "strict": self.strict,
        }


class ToolChoiceIn(Lenient):
    type: str
    name: str | None = None


class FormatIn(Lenient):
    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    description: str | None = None
    strict: bool | None = None


class TextIn(Lenient):
    format: FormatIn | None = None


class ReasoningIn(Lenient):
    effort: Literal[EFFORTS] | None = None  # type: ignore[valid-type]
    summary: str | None = None


class ResponsesRequest(Lenient):
    model: str = Field(min_length=1)
    input: Any
    instructions: str | None = None
    previous_response_id: str | None = Field(default=None, min_length=1, max_length=64)
    store: bool = True
    stream: bool = False
    max_output_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS_CEILING)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    tools: list[ToolIn] | None = None
    tool_choice: Literal["auto", "none", "required"] | ToolChoiceIn | None = None
    parallel_tool_calls: bool = True
    text: TextIn | None = None
    reasoning: ReasoningIn | None = None
    metadata: dict[str, str] | None = None
    user: str | None = Field(default=None, max_length=512)
    background: bool | None = None
    conversation: str | dict[str, Any] | None = None

    @field_validator("input")
    @classmethod
    def _string_or_items(cls, value: Any) -> Any:
        if not isinstance(value, str | list):
            raise ValueError("give a string or a list of items")
        return value

    def items(self) -> list[InputItem]:
        """`input` as items (a string is one user message)."""
        if isinstance(self.input, str):
            return [MessageItem(role="user", content=self.input)]
        return parse_items(self.input, field="input")

    def to_internal(self, items: Sequence[InputItem], history: Sequence[Message]) -> ChatRequest:
        """The chat request: `instructions`, then the conversation so far, then this call's input
        (`items`, from `items()`)."""
        self._refuse_unsupported()
        if self.model_extra:
            log.debug("ignored unknown request fields", extra={"fields": sorted(self.model_extra)})
        messages = (
            [Message(role="system", content=(TextPart(self.instructions),))] if self.instructions else []
        )
        messages += history
        messages += to_messages(items, field="input")
        if not any(m.role != "system" for m in messages):
            raise InvalidRequest("input: give at least one message or item", param="input")
        return ChatRequest(
            model=self.model,
            messages=tuple(messages),
            sampling=Sampling(
                temperature=self.temperature, top_p=self.top_p, max_tokens=self.max_output_tokens
            ),
            tools=tuple(
                ToolSpec(t.name or "", t.description or "", self._parameters(t)) for t in self.tools or ()
            ),
            tool_choice=self._tool_choice(),
            response_format=self._response_format(),
            reasoning=self._reasoning(),
            stream=self.stream,
        )

    def _refuse_unsupported(self) -> None:
        if self.background:
            raise InvalidRequest(
                "background responses are not supported; leave background false", param="background"
            )
        if self.conversation is not None:
            raise InvalidRequest(
                "conversation: the Conversations API is not supported; continue with previous_response_id",
                param="conversation",
            )
        for index, tool in enumerate(self.tools or ()):
            if tool.type != "function":
                raise InvalidRequest(
                    f"tools.{index}: only function tools are supported, not {tool.type!r}",
                    param=f"tools.{index}.type",
                )
            if tool.name is None:
                raise InvalidRequest(f"tools.{index}.name: Field required", param=f"tools.{index}.name")
        metadata = self.metadata or {}
        if len(metadata) > MAX_METADATA_KEYS or any(len(k) > 64 or len(v) > 512 for k, v in metadata.items()):
            raise InvalidRequest(
                f"metadata: at most {MAX_METADATA_KEYS} keys of up to 64 characters, values up to 512",
                param="metadata",
            )

    @staticmethod
    def _parameters(tool: ToolIn) -> dict[str, Any]:
        return tool.parameters or {"type": "object", "properties": {}}

    def _tool_choice(self) -> ToolChoice:
        choice = self.tool_choice
        names = {t.name for t in self.tools or ()}
        if isinstance(choice, ToolChoiceIn):
            if choice.type != "function" or not choice.name:
                raise InvalidRequest(
                    'tool_choice: name a function as {"type": "function", "name": ...} or give '
                    "auto, none or required",
                    param="tool_choice",
                )
            if choice.name not in names:
                raise InvalidRequest(
                    f"tool_choice names the function {choice.name!r}, which is not in `tools`",
                    param="tool_choice",
                )
            return ToolChoice(mode="required", name=choice.name, parallel=False)
        if choice == "required" and not names:
            raise InvalidRequest("tool_choice is 'required' but no tools were given", param="tool_choice")
        return ToolChoice(mode=choice or ("auto" if names else "none"), parallel=self.parallel_tool_calls)

    def _response_format(self) -> ResponseFormat:
        fmt = self.text.format if self.text is not None else None
        if fmt is None or fmt.type == "text":
            return ResponseFormat()
        if fmt.type == "json_object":
            return ResponseFormat(kind="json_object")
        if not fmt.schema_:
            raise InvalidRequest(
                "text.format.schema is required for type json_schema", param="text.format.schema"
            )
        return ResponseFormat(kind="json_schema", schema=fmt.schema_, name=fmt.name or "response")

    def _reasoning(self) -> Reasoning:
        effort = self.reasoning.effort if self.reasoning is not None else None
        if effort is None:
            return Reasoning()
        return Reasoning(enabled=effort != "none")

    def echo(self) -> dict[str, Any]:
        """The request's settings as the `response` object repeats them."""
        fmt = self.text.format if self.text is not None and self.text.format is not None else None
        text_format: dict[str, Any] = {"type": "text"}
        if fmt is not None and fmt.type != "text":
            text_format = {"type": fmt.type}
            if fmt.type == "json_schema":
                text_format.update(
                    name=fmt.name or "response",
                    schema=fmt.schema_,
                    description=fmt.description,
                    strict=fmt.strict,
                )
        choice = self.tool_choice
        return {
            "instructions": self.instructions,
            "max_output_tokens": self.max_output_tokens,
            "metadata": self.metadata or {},
            "parallel_tool_calls": self.parallel_tool_calls,
            "previous_response_id": self.previous_response_id,
            "reasoning": {"effort": self.reasoning.effort if self.reasoning else None, "summary": None},
            "store": self.store,
            "text": {"format": text_format},
            "tool_choice": (
                {"type": "function", "name": choice.name}
                if isinstance(choice, ToolChoiceIn)
                else choice or "auto"
            ),
            "tools": [t.echo() for t in self.tools or ()],
            "truncation": "disabled",
            "user": self.user,
        }
