"""A response's output items, built from the internal event stream, with the stream events that tell them.

Consecutive events of one kind form one output item, in the order they came: thinking a `reasoning` item
(its text as `reasoning_text` content), answer text a `message` item (one `output_text` part), each tool
call a `function_call` item. A change of kind completes the open item and opens the next. Each step
returns the events OpenAI's stream sends for it, without their `sequence_number` (the encoder numbers
them): `response.output_item.added`, `response.content_part.added`, the deltas, their `.done` events,
`response.content_part.done` and `response.output_item.done`.

The non-streamed answer is built by the same steps, so both carry the same items in the same order.
"""

from __future__ import annotations

from typing import Any

from openmaas.api.responses.items import item_id
from openmaas.domain.chat import ChatEvent, Finish, ReasoningDelta, TextDelta, ToolCallDelta

Event = dict[str, Any]


class _OpenItem:
    """The item being streamed: its kind (`message`, `reasoning` or `call:<index>`), place and text."""

    def __init__(self, kind: str, output_index: int, item: dict[str, Any]) -> None:
        self.kind = kind
        self.output_index = output_index
        self.item = item
        self.pieces: list[str] = []

    @property
    def id(self) -> str:
        return str(self.item["id"])

    def where(self, **more: Any) -> Event:
        return {"item_id": self.id, "output_index": self.output_index, **more}


class OutputBuilder:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.finish = Finish("stop")
        #: Thinking pieces streamed (one per token on the local engines), for `reasoning_tokens`.
        self.reasoning_pieces = 0
        self._open: _OpenItem | None = None

    def add(self, event: ChatEvent) -> list[Event]:
        if isinstance(event, TextDelta):
            events = self._switch("message") if self._kind != "message" else []
            return [
                *events,
                self._delta("response.output_text.delta", event.text, content_index=0, logprobs=[]),
            ]
        if isinstance(event, ReasoningDelta):
            self.reasoning_pieces += 1
            events = self._switch("reasoning") if self._kind != "reasoning" else []
            return [*events, self._delta("response.reasoning_text.delta", event.text, content_index=0)]
        if isinstance(event, ToolCallDelta):
            kind = f"call:{event.index}"
            events = self._switch(kind, call=event) if self._kind != kind else []
            if event.arguments:
                events.append(self._delta("response.function_call_arguments.delta", event.arguments))
            return events
        if isinstance(event, Finish):
            self.finish = event
        return []

    def close(self) -> list[Event]:
        """At the end of the answer: complete the open item (an empty answer is one empty message)."""
        if self._open is None and not self.items:
            return [*self._switch("message"), *self._complete()]
        return self._complete()

    @property
    def _kind(self) -> str | None:
        return self._open.kind if self._open is not None else None

    def _delta(self, kind: str, text: str, **more: Any) -> Event:
        assert self._open is not None
        self._open.pieces.append(text)
        return {"type": kind, **self._open.where(**more), "delta": text}

    def _switch(self, kind: str, call: ToolCallDelta | None = None) -> list[Event]:
        events = self._complete()
        if kind == "message":
            item: dict[str, Any] = {
                "id": item_id("msg"),
                "type": "message",
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            }
        elif kind == "reasoning":
            item = {"id": item_id("rs"), "type": "reasoning", "summary": [], "status": "in_progress"}
        else:
            assert call is not None
            item = {
                "id": item_id("fc"),
                "type": "function_call",
                "call_id": call.id or item_id("call"),
                "name": call.name or "",
                "arguments": "",
                "status": "in_progress",
            }
        self._open = _OpenItem(kind, len(self.items), item)
        self.items.append(item)
        events.append(
            {
                "type": "response.output_item.added",
                "output_index": self._open.output_index,
                "item": dict(item),
            }
        )
        part = _part(kind, "")
        if part is not None:
            events.append(
                {"type": "response.content_part.added", **self._open.where(content_index=0), "part": part}
            )
        return events

    def _complete(self) -> list[Event]:
        current, self._open = self._open, None
        if current is None:
            return []
        text = "".join(current.pieces)
        item = current.item
        item["status"] = (
            "incomplete" if self.finish.reason == "length" and current.kind == "message" else "completed"
        )
        events: list[Event] = []
        if current.kind.startswith("call:"):
            item["arguments"] = text
            events.append(
                {"type": "response.function_call_arguments.done", **current.where(), "arguments": text}
            )
        else:
            part = _part(current.kind, text)
            item["content"] = [part]
            done = (
                "response.output_text.done" if current.kind == "message" else "response.reasoning_text.done"
            )
            extra: dict[str, Any] = {"logprobs": []} if current.kind == "message" else {}
            events.append({"type": done, **current.where(content_index=0), "text": text, **extra})
            events.append(
                {"type": "response.content_part.done", **current.where(content_index=0), "part": part}
            )
        events.append(
            {"type": "response.output_item.done", "output_index": current.output_index, "item": dict(item)}
        )
        return events


def _part(kind: str, text: str) -> dict[str, Any] | None:
    if kind == "message":
        return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    if kind == "reasoning":
        return {"type": "reasoning_text", "text": text}
    return None
