"""One chat session: a conversation with a server, asked one question at a time.

`ask` sends the whole message list, prints the answer as it streams in (a thinking model's reasoning
first, dimmed) and keeps the answer in the history. Ctrl-C stops the answer and keeps the session (what
was already shown stays in the history); a failure is printed as one line and the question is dropped,
so the history never holds a question without its answer.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai

from openmaas.cli.chat.conversation import Conversation
from openmaas.cli.chat.endpoint import ChatFailure, Endpoint, StatusError, describe
from openmaas.cli.chat.render import Printer
from openmaas.personas import Personas

# What talking to a server can raise; anything else is a bug and should show as one.
SERVER_ERRORS = (openai.OpenAIError, httpx.HTTPError, StatusError, ChatFailure)


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
    ) -> None:
        self.endpoint = endpoint
        self.conversation = conversation
        self.personas = personas
        self.printer = printer
        self.images = images

    @property
    def speaker(self) -> str:
        return self.conversation.persona or "assistant"

    def fail(self, exc: BaseException) -> None:
        self.printer.error(describe(exc, self.endpoint.base_url))

    def ask(self, question: str, *, piped: bool = False) -> bool:
        """Send `question` with the history and print the answer; False if the server failed.

        Piped, the answer comes alone (no speaker label) and Ctrl-C ends the program instead.
        """
        self.conversation.add("user", question)
        if not piped:
            self.printer.label(f"{self.speaker}: ")
        shown: list[str] = []
        thinking = False
        pieces = self.endpoint.stream(self.conversation.model, self.conversation.messages)
        try:
            with contextlib.closing(pieces):
                for kind, text in pieces:
                    if kind == "reasoning":
                        if not thinking:
                            self.printer.thinking("(thinking) ")
                            thinking = True
                        self.printer.thinking(text)
                        continue
                    if thinking and not shown:
                        self.printer.write("\n\n")
                    shown.append(text)
                    self.printer.answer(text)
        except KeyboardInterrupt:
            if piped:
                raise
            self.printer.line()
            self.printer.info("[stopped]")
            self._keep("".join(shown))
            return True
        except SERVER_ERRORS as exc:
            if shown or thinking:
                self.printer.line()
            self.fail(exc)
            self.conversation.drop_last_user_turn()
            return False
        self.printer.line()
        self._keep("".join(shown))
        return True

    def _keep(self, answer: str) -> None:
        if answer:
            self.conversation.add("assistant", answer)
        else:
            self.conversation.drop_last_user_turn()
