"""The conversation: the message list sent on every turn, and its transcript files.

All of it goes to the model each time — the system message first, then every user and assistant turn —
which is how the persona and what was said persist (each API call is otherwise independent).

A transcript is JSON: `{"format": "openmaas-chat/1", "model": ..., "persona": ..., "messages": [...]}`
with OpenAI-style `{"role", "content"}` messages. `load` also takes a bare list of such messages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "openmaas-chat/1"
ROLES = ("system", "user", "assistant")

Message = dict[str, str]


class TranscriptError(Exception):
    """A transcript that cannot be read or written; the message says why."""


@dataclass
class Conversation:
    model: str
    persona: str | None = None
    messages: list[Message] = field(default_factory=list)

    @property
    def system(self) -> str | None:
        if self.messages and self.messages[0]["role"] == "system":
            return self.messages[0]["content"]
        return None

    def set_system(self, text: str | None, persona: str | None = None) -> None:
        """Replace the system message (or drop it, with None); the rest of the history stays."""
        if self.system is not None:
            self.messages.pop(0)
        if text:
            self.messages.insert(0, {"role": "system", "content": text})
        self.persona = persona

    def add(self, role: str, content: str) -> None:
        self.messages.append({"role": role, "content": content})

    def drop_last_user_turn(self) -> None:
        """Forget a question that got no answer, so the history stays question-answer pairs."""
        if self.messages and self.messages[-1]["role"] == "user":
            self.messages.pop()

    def reset(self) -> None:
        """Forget the dialogue; the system message (the persona) stays."""
        self.messages = self.messages[:1] if self.system is not None else []

    def save(self, path: Path) -> None:
        body = {"format": FORMAT, "model": self.model, "persona": self.persona, "messages": self.messages}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(body, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise TranscriptError(f"cannot write {path}: {exc.strerror or exc}") from exc

    @classmethod
    def load(cls, path: Path, default_model: str) -> Conversation:
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise TranscriptError(f"cannot read {path}: {exc.strerror or exc}") from exc
        except (ValueError, UnicodeDecodeError) as exc:
            raise TranscriptError(f"{path} is not a JSON transcript ({exc})") from exc
        if isinstance(body, list):
            body = {"messages": body}
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            raise TranscriptError(f"{path} has no `messages` list")
        messages = [_message(m, i, path) for i, m in enumerate(body["messages"])]
        model = body.get("model") if isinstance(body.get("model"), str) else default_model
        persona = body.get("persona") if isinstance(body.get("persona"), str) else None
        return cls(model=model or default_model, persona=persona, messages=messages)


def _message(raw: Any, index: int, path: Path) -> Message:
    if not isinstance(raw, dict) or raw.get("role") not in ROLES or not isinstance(raw.get("content"), str):
        raise TranscriptError(
            f"{path}: message {index} must be {{'role': system|user|assistant, 'content': text}}"
        )
    if raw["role"] == "system" and index != 0:
        raise TranscriptError(f"{path}: only the first message may be the system message")
    return {"role": raw["role"], "content": raw["content"]}
