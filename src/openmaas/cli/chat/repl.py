"""`openmaas chat`: set the session up, then read questions from the terminal or from a pipe.

On a terminal it is a line editor with history (prompt_toolkit) where lines starting with `/` are
commands. From a pipe (`echo "question" | openmaas chat --persona cat`) the whole input is one question:
the answer goes to stdout and the exit status is 0, or 1 with one line on stderr when it failed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import WordCompleter
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.output import ColorDepth

from openmaas.cli.chat import commands
from openmaas.cli.chat.conversation import Conversation
from openmaas.cli.chat.endpoint import DEFAULT_BASE_URL, Endpoint, describe
from openmaas.cli.chat.parameters import ParameterError, Parameters
from openmaas.cli.chat.render import Printer, color_wanted
from openmaas.cli.chat.session import SERVER_ERRORS, ChatSession, ImageOptions
from openmaas.cli.errors import CommandError
from openmaas.personas import DEFAULT, PersonaError, Personas
from openmaas.settings import Settings

HISTORY_FILE = "chat_history"
PROMPT = "you> "


def run_chat(args: argparse.Namespace) -> int:
    piped = not sys.stdin.isatty()
    printer = Printer(sys.stdout, color=color_wanted(args.no_color, sys.stdout))
    data_dir = _data_dir(args)
    api_key = args.api_key or os.environ.get("OPENMAAS_API_KEY")
    if not api_key:
        raise CommandError(
            "no access token: set OPENMAAS_API_KEY or pass --api-key "
            "(`openmaas serve --local-token` prints one)"
        )
    try:
        personas = Personas.load(data_dir)
    except PersonaError as exc:
        raise CommandError(str(exc)) from exc
    base_url = args.base_url or os.environ.get("OPENMAAS_BASE_URL") or DEFAULT_BASE_URL
    endpoint = Endpoint(base_url, api_key)
    try:
        session = _session(args, endpoint, personas, printer)
        if piped:
            return _answer_once(session, sys.stdin.read())
        return _interactive(session, data_dir, args.no_color)
    finally:
        endpoint.close()


def _session(
    args: argparse.Namespace, endpoint: Endpoint, personas: Personas, printer: Printer
) -> ChatSession:
    try:
        model = args.model or endpoint.default_chat_model()
    except SERVER_ERRORS as exc:
        raise CommandError(describe(exc, endpoint.base_url)) from exc
    conversation = Conversation(model=model)
    if args.system:
        conversation.set_system(args.system)
    else:
        persona = personas.find(args.persona or DEFAULT)
        if persona is None:
            raise CommandError(f"no persona {args.persona!r}; there are: {personas.names()}")
        conversation.set_system(persona.system, persona.name)
    folder = args.image_dir or Path.cwd()
    images = ImageOptions(args.image_model, folder)
    return ChatSession(endpoint, conversation, personas, printer, images, _parameters(args))


def _parameters(args: argparse.Namespace) -> Parameters:
    flags = {"max_tokens": args.max_tokens, "temperature": args.temperature}
    flags |= {"top_p": args.top_p, "seed": args.seed}
    try:
        return Parameters.given(flags)
    except ParameterError as exc:
        raise CommandError(str(exc)) from exc


def _answer_once(session: ChatSession, question: str) -> int:
    if not question.strip():
        raise CommandError("nothing to ask: standard input was empty")
    try:
        answered = session.ask(question.strip(), piped=True)
    except KeyboardInterrupt:
        return 130
    return 0 if answered else 1


def _interactive(session: ChatSession, data_dir: Path, no_color: bool) -> int:
    conversation = session.conversation
    who = f"persona {conversation.persona}" if conversation.persona else "your system message"
    session.printer.info(f"OpenMaaS chat · {conversation.model} · {who} · {session.endpoint.base_url}")
    if session.parameters.values:
        session.printer.info(f"parameters: {session.parameters.describe()}")
    session.printer.info(
        "/help lists the commands; /set max_tokens N and others steer the answers; Ctrl-C stops an "
        "answer; Ctrl-D or /quit leaves."
    )
    prompt: PromptSession[str] = PromptSession(
        history=_history(data_dir),
        completer=WordCompleter([*commands.COMMANDS, *commands.ALIASES], sentence=True),
        complete_while_typing=False,
        color_depth=ColorDepth.MONOCHROME if no_color else None,
    )
    while True:
        try:
            line = prompt.prompt(PROMPT)
        except KeyboardInterrupt:
            continue  # Ctrl-C at the prompt clears the line, as in a shell
        except EOFError:
            return 0
        line = line.strip()
        if not line:
            continue
        if line.startswith("/"):
            if not commands.run(session, line):
                return 0
            continue
        session.ask(line)


def _data_dir(args: argparse.Namespace) -> Path:
    """The server's data dir setting, without loading the server's other settings (nor the store)."""
    default = Settings.model_fields["data_dir"].default
    return Path(args.data_dir or os.environ.get("OPENMAAS_DATA_DIR") or default).expanduser()


def _history(data_dir: Path) -> History:
    """The typed lines, kept across sessions in the data dir (in memory if it cannot be written)."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / HISTORY_FILE
        path.touch(mode=0o600, exist_ok=True)
    except OSError:
        return InMemoryHistory()
    return FileHistory(str(path))
