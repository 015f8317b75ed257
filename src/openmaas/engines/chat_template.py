"""From a `ChatRequest` to prompt token ids through the model's own chat template, for any local engine.

Messages are handed to `tokenizer.apply_chat_template` in the shape Hugging Face templates expect:
text parts joined into one string; an assistant's tool calls as
`{"type": "function", "function": {"name": ..., "arguments": <dict>}}`; tool results as
`{"role": "tool", "content": ..., "tool_call_id": ...}`; tools as
`{"type": "function", "function": {"name", "description", "parameters"}}`. When the request sets thinking
on or off, `enable_thinking` is passed to the template (the switch Qwen3-style templates read).

For a model that takes images, every message's content is instead a list of typed parts
(`{"type": "text", "text": ...}`, `{"type": "image"}`), the shape vision templates (Qwen2-VL, LLaVA,
Gemma 3, ...) expect; the template writes the model's image placeholder where each image goes, and the
engine hands the images themselves to the model in the same order.

Control tokens that appear in message text (say `<|im_start|>` typed by a user) are encoded as plain text,
so only the template itself can open or close a turn (see `control_tokens.py`).

`ChatTemplateOptions` is the base of the options of every engine that renders this way: its
`chat_template` option overrides the model's template.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import TemplateError

from openmaas.domain.chat import ChatRequest, ImagePart, Message, TextPart, ToolCall, ToolSpec
from openmaas.domain.errors import InvalidRequest
from openmaas.engines.control_tokens import ControlTokens
from openmaas.engines.options import EngineOptions


class PromptRenderer:
    """Renders requests for one tokenizer; `chat_template` overrides the tokenizer's own.

    `accepts_images` is for vision models: image parts then become `{"type": "image"}` content parts."""

    def __init__(
        self, tokenizer: Any, chat_template: str | None = None, *, accepts_images: bool = False
    ) -> None:
        if chat_template is None and not getattr(tokenizer, "chat_template", None):
            raise ValueError("the tokenizer has no chat template; set the `chat_template` option")
        self._tokenizer = tokenizer
        self._template = chat_template
        self._accepts_images = accepts_images
        self._control = ControlTokens(tokenizer, _template_source(tokenizer, chat_template))

    def render(self, request: ChatRequest) -> list[int]:
        """The prompt token ids, ending with the opening of the assistant's turn."""
        if request.has_images and not self._accepts_images:
            raise InvalidRequest(
                f"Model '{request.model}' accepts text only; remove the images from the messages.",
                param="messages",
            )
        extra: dict[str, Any] = {}
        if request.reasoning.enabled is not None:
            extra["enable_thinking"] = request.reasoning.enabled
        shape = typed_parts_message if self._accepts_images else template_message
        mark = self._control.mark
        try:
            rendered = self._tokenizer.apply_chat_template(
                mark([shape(m) for m in request.messages]),
                tools=mark([template_tool(t) for t in request.tools]) or None,
                chat_template=self._template,
                add_generation_prompt=True,
                tokenize=False,
                **extra,
            )
        except TemplateError as error:
            # Templates reject conversations they cannot express (roles out of order, say) by raising.
            raise InvalidRequest(
                f"Model '{request.model}' cannot take these messages: {error}", param="messages"
            ) from error
        return self._control.encode(rendered)


def template_message(message: Message) -> dict[str, Any]:
    rendered: dict[str, Any] = {"role": message.role, "content": message.text}
    if message.tool_calls:
        rendered["tool_calls"] = [template_tool_call(call) for call in message.tool_calls]
    if message.tool_call_id is not None:
        rendered["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        rendered["name"] = message.name
    return rendered


def typed_parts_message(message: Message) -> dict[str, Any]:
    """A message whose content is a list of typed parts, in order (for vision templates)."""
    rendered = template_message(message)
    rendered["content"] = [
        {"type": "text", "text": part.text} if isinstance(part, TextPart) else {"type": "image"}
        for part in message.content
        if isinstance(part, TextPart | ImagePart)
    ]
    return rendered


def template_tool_call(call: ToolCall) -> dict[str, Any]:
    try:
        arguments: Any = json.loads(call.arguments) if call.arguments.strip() else {}
    except json.JSONDecodeError:
        arguments = call.arguments  # templates print it as is; the model sees what the client sent
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": arguments}}


def template_tool(tool: ToolSpec) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name, "parameters": tool.parameters or {"type": "object"}}
    if tool.description:
        function["description"] = tool.description
    return {"type": "function", "function": function}


def _template_source(tokenizer: Any, override: str | None) -> str:
    template = override or tokenizer.chat_template
    return template if isinstance(template, str) else "\n".join(template.values())


def template_override(option: str | None) -> str | None:
    """A `chat_template` option's template: the option itself, or the file it names (`*.jinja`)."""
    if option is None:
        return None
    candidate = Path(option).expanduser()
    if "\n" not in option and option.endswith(".jinja") and candidate.is_file():
        return candidate.read_text(encoding="utf-8")
    return option


class ChatTemplateOptions(EngineOptions):
    """The options of an engine that renders prompts with `PromptRenderer`: `chat_template`, the model's
    own template overridden."""

    chat_template: str | None = None

    def template_text(self) -> str | None:
        """The chat template override, read from its file when the option names one."""
        return template_override(self.chat_template)
