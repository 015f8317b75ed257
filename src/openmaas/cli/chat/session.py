"""One chat session: a conversation with a server, asked one question at a time.

`ask` sends the whole message list with the session's parameters (`max_tokens`, `temperature`, ...),
prints the answer as it streams in (a thinking model's reasoning first, dimmed) and keeps the answer in
the history. Ctrl-C stops the answer and keeps the session (what was already shown stays in the
history); a failure is printed as one line and the question is dropped, so the history never holds a
question without its answer. An answer cut by `max_tokens` says so, and how to allow longer ones.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import openai

from openmaas.cli.chat.conversation import Conversation
from openmaas.cli.chat.endpoint import ChatFailure, Endpoint, Piece, StatusError, describe
from openmaas.cli.chat.parameters import Parameters
from openmaas.cli.chat.render import Printer
from openmaas.personas import Personas

# What talking to a server can raise; anything else is a bug and should show as one.
SERVER_ERRORS = (openai.OpenAIError, httpx.HTTPError, StatusError, ChatFailure)


@dataclass
class _Answer:
    """What has come of an answer so far."""

    text: list[str] = field(default_factory=list)
    thinking: bool = False
    finish: str | None = None

    @property
    def content(self) -> str:
        return "".join(self.text)


@dataclass
class ImageOptions:
    model: str | None
    folder: Path
    poll_seconds: float = 0.5


class ChatSession:
    def __init__(
        self,
        endpoint: Endpoint,
        conversation: Conversation,
        personas: Personas,
        printer: Printer,
        images: ImageOptions,
        parameters: Parameters | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.conversation = conversation
        self.personas = personas
        self.printer = printer
        self.images = images
        self.parameters = parameters or Parameters()

    @property
    def speaker(self) -> str:
        return self.conversation.persona or "assistant"

    def fail(self, exc: BaseException) -> None:
        self.printer.error(describe(exc, self.endpoint.base_url))

    def ask(self, question: str, *, piped: bool = False) -> bool:
        """Send `question` with the history and print the answer; False if the server failed.

        Piped, the answer comes alone (no speaker label) and Ctrl-C ends the program instead.
        """
        conversation = self.conversation
        conversation.add("user", question)
        if not piped:
            self.printer.label(f"{self.speaker}: ")
        answer = _Answer()
        pieces = self.endpoint.stream(conversation.model, conversation.messages, self.parameters.values)
        try:
            with contextlib.closing(pieces):
                self._show(pieces, answer)
        except KeyboardInterrupt:
            if piped:
                raise
            self.printer.line()
            self.printer.info("[stopped]")
            self._keep(answer.content)
            return True
        except SERVER_ERRORS as exc:
            if answer.text or answer.thinking:
                self.printer.line()
            self.fail(exc)
            conversation.drop_last_user_turn()
            return False
        self.printer.line()
        if answer.finish == "length" and not piped:
            self._cut_short()
        self._keep(answer.content)
        return True

    def _show(self, pieces: Iterable[Piece], answer: _Answer) -> None:
        """Print the pieces as they come, collecting them in `answer`."""
        for kind, text in pieces:
            if kind == "finish":
                answer.finish = text
            elif kind == "reasoning":
                if not answer.thinking:
                    self.printer.thinking("(thinking) ")
                    answer.thinking = True
                self.printer.thinking(text)
            else:
                if answer.thinking and not answer.text:
                    self.printer.write("\n\n")
                answer.text.append(text)
                self.printer.answer(text)

    def _cut_short(self) -> None:
        limit = self.parameters.values.get("max_tokens")
        reached = f"max_tokens={limit}" if limit is not None else "the server's max_tokens default"
        self.printer.info(f"[cut short at {reached}; /set max_tokens N allows longer answers]")

    def _keep(self, answer: str) -> None:
        if answer:
            self.conversation.add("assistant", answer)
        else:
            self.conversation.drop_last_user_turn()
