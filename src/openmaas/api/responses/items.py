"""The items of a Responses API conversation and their translation into internal chat messages.

A client sends `input` as items: messages (`input_text`, `input_image` and, for earlier assistant turns,
`output_text` parts), `function_call` items (the model's earlier tool calls) and `function_call_output`
items (their results). A response's `output` items have the same shapes, so the items of a stored
conversation are read back with the same models. Each item also has its stored form (`to_stored`): the
shape `GET /v1/responses/{id}/input_items` lists, with an id.

Into messages: `system` and `developer` messages become system messages; consecutive function calls join
the assistant message before them as its tool calls; each function-call output becomes a `tool` message.
Earlier `reasoning` items are not sent back to the model (as the other dialects drop earlier thinking).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError

from openmaas.api.wire import Lenient
from openmaas.domain.chat import ContentPart, ImagePart, Message, Role, TextPart, ToolCall
from openmaas.domain.errors import InvalidRequest


def item_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


class InputText(Lenient):
    type: Literal["input_text"]
    text: str

    def to_stored(self) -> dict[str, Any]:
        return {"type": "input_text", "text": self.text}


class OutputText(Lenient):
    type: Literal["output_text"]
    text: str

    def to_stored(self) -> dict[str, Any]:
        return {"type": "output_text", "text": self.text, "annotations": []}


class Refusal(Lenient):
    type: Literal["refusal"]
    refusal: str

    @property
    def text(self) -> str:
        return self.refusal

    def to_stored(self) -> dict[str, Any]:
        return {"type": "refusal", "refusal": self.refusal}


class InputImage(Lenient):
    type: Literal["input_image"]
    image_url: str | None = Field(default=None, min_length=1)
    file_id: str | None = None
    detail: str = "auto"

    def to_stored(self) -> dict[str, Any]:
        return {"type": "input_image", "image_url": self.image_url, "detail": self.detail}


Part = Annotated[InputText | OutputText | Refusal | InputImage, Field(discriminator="type")]
ToolOutputPart = Annotated[InputText | InputImage, Field(discriminator="type")]


class MessageItem(Lenient):
    type: Literal["message"] = "message"
    id: str | None = None
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[Part]

    def to_stored(self) -> dict[str, Any]:
        if isinstance(self.content, str):
            text = self.content
            part = OutputText(type="output_text", text=text) if self.role == "assistant" else None
            content = [(part or InputText(type="input_text", text=text)).to_stored()]
        else:
            content = [p.to_stored() for p in self.content]
        return {
            "id": self.id or item_id("msg"),
            "type": "message",
            "role": self.role,
            "status": "completed",
            "content": content,
        }


class FunctionCallItem(Lenient):
    type: Literal["function_call"]
    id: str | None = None
    call_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    arguments: str = ""

    def to_stored(self) -> dict[str, Any]:
        return {
            "id": self.id or item_id("fc"),
            "type": "function_call",
            "call_id": self.call_id,
            "name": self.name,
            "arguments": self.arguments,
            "status": "completed",
        }


class FunctionCallOutputItem(Lenient):
    type: Literal["function_call_output"]
    id: str | None = None
    call_id: str = Field(min_length=1)
    output: str | list[ToolOutputPart]

    def to_stored(self) -> dict[str, Any]:
        output = self.output if isinstance(self.output, str) else [p.to_stored() for p in self.output]
        return {
            "id": self.id or item_id("fco"),
            "type": "function_call_output",
            "call_id": self.call_id,
            "output": output,
            "status": "completed",
        }


class ReasoningItem(Lenient):
    type: Literal["reasoning"]
    id: str | None = None
    summary: list[dict[str, Any]] = Field(default_factory=list)
    content: list[dict[str, Any]] | None = None

    def to_stored(self) -> dict[str, Any]:
        stored = {"id": self.id or item_id("rs"), "type": "reasoning", "summary": self.summary}
        if self.content is not None:
            stored["content"] = self.content
        return stored


InputItem = MessageItem | FunctionCallItem | FunctionCallOutputItem | ReasoningItem
_ITEM_MODELS: dict[str, type[InputItem]] = {
    "message": MessageItem,
    "function_call": FunctionCallItem,
    "function_call_output": FunctionCallOutputItem,
    "reasoning": ReasoningItem,
}
_PART_TAGS = frozenset({"input_text", "output_text", "refusal", "input_image"})


def parse_items(values: Sequence[Any], *, field: str) -> list[InputItem]:
    """Items from JSON, each checked on its own so that a 400 names the item and the field in it."""
    items: list[InputItem] = []
    for index, value in enumerate(values):
        where = f"{field}.{index}"
        kind = value.get("type", "message") if isinstance(value, dict) else None
        model = _ITEM_MODELS.get(str(kind))
        if model is None:
            raise InvalidRequest(
                f"{where}: items of type {kind!r} are not supported (only {', '.join(_ITEM_MODELS)})",
                param=f"{where}.type",
            )
        try:
            items.append(model.model_validate(value))
        except ValidationError as exc:
            raise _described(exc, where) from None
    return items


def _described(exc: ValidationError, where: str) -> InvalidRequest:
    """The most specific of the item's errors (the deepest), its location without pydantic's labels of
    union members (`str`, `list[...]`, a part's tag)."""
    error = max(exc.errors(), key=lambda e: len(e["loc"]))
    location: list[str] = []
    previous: Any = None
    for part in error["loc"]:
        is_label = isinstance(part, str) and (part == "str" or "[" in part)
        is_tag = isinstance(previous, int) and part in _PART_TAGS
        if not (is_label or is_tag):
            location.append(str(part))
        previous = part
    param = ".".join([where, *location])
    message = "Field required" if error["type"] == "missing" else error["msg"]
    return InvalidRequest(f"{param}: {message}", param=param)


def to_messages(items: Sequence[InputItem], *, field: str) -> list[Message]:
    """The chat messages of these items; `field` names where they are in the request, for errors."""
    messages: list[Message] = []
    tool_names: dict[str, str] = {}
    for index, item in enumerate(items):
        where = f"{field}.{index}"
        if isinstance(item, MessageItem):
            messages.append(_message(item, where))
        elif isinstance(item, FunctionCallItem):
            tool_names[item.call_id] = item.name
            _add_call(messages, ToolCall(item.call_id, item.name, item.arguments))
        elif isinstance(item, FunctionCallOutputItem):
            messages.append(
                Message(
                    role="tool",
                    content=(TextPart(_tool_output(item, where)),),
                    tool_call_id=item.call_id,
                    name=tool_names.get(item.call_id),
                )
            )
    return messages


def _message(item: MessageItem, where: str) -> Message:
    role: Role = "system" if item.role == "developer" else item.role
    if isinstance(item.content, str):
        return Message(role=role, content=(TextPart(item.content),))
    parts: list[ContentPart] = []
    for position, part in enumerate(item.content):
        if isinstance(part, InputImage):
            parts.append(_image(part, role, f"{where}.content.{position}"))
        else:
            parts.append(TextPart(part.text))
    return Message(role=role, content=tuple(parts))


def _image(part: InputImage, role: str, where: str) -> ImagePart:
    if role != "user":
        raise InvalidRequest(f"{where}: images may only appear in user messages", param=where)
    if part.image_url is None:
        raise InvalidRequest(
            f"{where}: give the image as image_url (an http(s) URL or a data: URI); file ids are not "
            "supported",
            param=f"{where}.image_url",
        )
    return ImagePart(url=part.image_url, field=f"{where}.image_url")


def _add_call(messages: list[Message], call: ToolCall) -> None:
    """A function call joins the assistant message just before it, or starts one."""
    last = messages[-1] if messages else None
    if last is not None and last.role == "assistant":
        messages[-1] = replace(last, tool_calls=(*last.tool_calls, call))
    else:
        messages.append(Message(role="assistant", tool_calls=(call,)))


def _tool_output(item: FunctionCallOutputItem, where: str) -> str:
    if isinstance(item.output, str):
        return item.output
    if any(isinstance(p, InputImage) for p in item.output):
        raise InvalidRequest(f"{where}.output: a function call output cannot contain images", param=where)
    return "".join(p.text for p in item.output if isinstance(p, InputText))
