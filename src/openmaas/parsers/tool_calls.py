"""Recognising tool calls in a model's streamed output.

Two output forms, chosen per model in the registry (`tool_parser`):

- `hermes`: calls between `<tool_call>` and `</tool_call>`, each a JSON object
  `{"name": …, "arguments": {…}}` (Hermes, Qwen2.5, Qwen3 templates). Text outside the tags streams as
  content at once; a call is emitted when its closing tag arrives.
- `json`: the whole answer is a JSON object `{"name": …, "arguments"|"parameters": {…}}` or a list of
  them (Llama 3.x and other plain-JSON templates). An answer that does not start with `{` or `[`
  streams as content.

Output that cannot be parsed as a call degrades to text: the client sees what the model wrote.
"""

from __future__ import annotations

import abc
import uuid
from typing import Any

import orjson

from openmaas.domain.chat import ChatEvent, TextDelta, ToolCallDelta
from openmaas.parsers.holdback import split_partial


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def as_call(value: Any) -> tuple[str, str] | None:
    """(name, arguments JSON) if `value` is a call object, else None."""
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value["name"]:
        return None
    arguments = value.get("arguments", value.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            arguments = orjson.loads(arguments)
        except orjson.JSONDecodeError:
            return None
    if not isinstance(arguments, dict):
        return None
    return value["name"], orjson.dumps(arguments).decode()


class ToolCallParser(abc.ABC):
    def __init__(self) -> None:
        self.calls = 0

    def _call(self, name: str, arguments: str) -> ToolCallDelta:
        delta = ToolCallDelta(index=self.calls, id=new_call_id(), name=name, arguments=arguments)
        self.calls += 1
        return delta

    @abc.abstractmethod
    def feed(self, text: str) -> list[ChatEvent]: ...

    @abc.abstractmethod
    def flush(self) -> list[ChatEvent]: ...


class HermesToolParser(ToolCallParser):
    def __init__(self, start: str = "<tool_call>", end: str = "</tool_call>") -> None:
        super().__init__()
        self.start = start
        self.end = end
        self._buffer = ""
        self._inside = False

    def feed(self, text: str) -> list[ChatEvent]:
        self._buffer += text
        events: list[ChatEvent] = []
        while True:
            if self._inside:
                body, found, after = self._buffer.partition(self.end)
                if not found:
                    return events
                events.append(self._parsed(body))
                self._buffer = after
                self._inside = False
                continue
            before, found, after = self._buffer.partition(self.start)
            if found:
                self._emit_text(before, events)
                self._buffer = after
                self._inside = True
                continue
            safe, held = split_partial(self._buffer, self.start)
            self._emit_text(safe, events)
            self._buffer = held
            return events

    def _emit_text(self, text: str, events: list[ChatEvent]) -> None:
        # Models put newlines between and after calls; that is layout, not an answer.
        if text and not (self.calls and not text.strip()):
            events.append(TextDelta(text))

    def _parsed(self, body: str) -> ChatEvent:
        try:
            call = as_call(orjson.loads(body.strip()))
        except orjson.JSONDecodeError:
            call = None
        if call is None:
            return TextDelta(f"{self.start}{body}{self.end}")
        return self._call(*call)

    def flush(self) -> list[ChatEvent]:
        text, self._buffer = self._buffer, ""
        if not self._inside:
            return [TextDelta(text)] if text and not (self.calls and not text.strip()) else []
        self._inside = False
        event = self._parsed(text)
        if isinstance(event, TextDelta):  # an unclosed, unparseable call: give back what was written
            return [TextDelta(f"{self.start}{text}")]
        return [event]


class JsonToolParser(ToolCallParser):
    def __init__(self) -> None:
        super().__init__()
        self._buffer = ""
        self._mode = "undecided"  # then "json" (buffering) or "text" (pass-through)

    def feed(self, text: str) -> list[ChatEvent]:
        if self._mode == "text":
            return [TextDelta(text)] if text else []
        self._buffer += text
        stripped = self._buffer.lstrip()
        if self._mode == "undecided" and stripped:
            self._mode = "json" if stripped[0] in "{[" else "text"
            if self._mode == "text":
                text, self._buffer = self._buffer, ""
                return [TextDelta(text)]
        return []

    def flush(self) -> list[ChatEvent]:
        text, self._buffer = self._buffer, ""
        if not text:
            return []
        try:
            value = orjson.loads(text.strip())
        except orjson.JSONDecodeError:
            return [TextDelta(text)]
        items = value if isinstance(value, list) else [value]
        calls = [as_call(item) for item in items]
        if not items or any(c is None for c in calls):
            return [TextDelta(text)]
        return [self._call(*c) for c in calls if c is not None]


TOOL_PARSERS: dict[str, type[ToolCallParser]] = {"hermes": HermesToolParser, "json": JsonToolParser}
