"""The slash commands of `openmaas chat`: each is a function of the session and the rest of the line."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from openmaas.cli.chat import images
from openmaas.cli.chat.conversation import Conversation, TranscriptError
from openmaas.cli.chat.parameters import PARAMETERS, ParameterError
from openmaas.cli.chat.render import human_duration
from openmaas.cli.chat.session import SERVER_ERRORS, ChatSession


@dataclass(frozen=True)
class Command:
    run: Callable[[ChatSession, str], bool]  # False ends the session
    usage: str
    help: str


def show_help(session: ChatSession, _: str) -> bool:
    for name, command in COMMANDS.items():
        session.printer.line(f"  {(name + ' ' + command.usage).strip():<20} {command.help}")
    session.printer.line("  Ctrl-C stops an answer; Ctrl-D or /quit leaves.")
    return True


def set_system(session: ChatSession, text: str) -> bool:
    if not text:
        session.printer.line(session.conversation.system or "(no system message)")
        return True
    session.conversation.set_system(text)
    session.printer.info("system message set; it is sent first on every turn")
    return True


def set_persona(session: ChatSession, name: str) -> bool:
    if not name:
        for known in session.personas.all():
            mark = "*" if known.name == session.conversation.persona else " "
            session.printer.line(f" {mark} {known.name:<12} {known.description}")
        return True
    persona = session.personas.find(name)
    if persona is None:
        session.printer.error(f"no persona {name!r}; there are: {session.personas.names()}")
        return True
    session.conversation.set_system(persona.system, persona.name)
    session.printer.info(f"you are now talking to {persona.name}: {persona.description}")
    return True


def show(session: ChatSession, what: str) -> bool:
    if what.lower() not in ("parameters", "parameter", "params"):
        session.printer.show_messages(session.conversation.messages)
    session.printer.line(f"parameters: {session.parameters.describe()}")
    return True


def set_parameter(session: ChatSession, text: str) -> bool:
    """`/set NAME VALUE`; Ollama's `/set parameter NAME VALUE` and `/set system TEXT` work too."""
    words = text.split(maxsplit=1)
    if words and words[0].lower() == "system":
        return set_system(session, words[1] if len(words) > 1 else "")
    if words and words[0].lower() == "parameter":
        words = words[1].split(maxsplit=1) if len(words) > 1 else []
    if not words:
        return list_parameters(session)
    if len(words) == 1:
        session.printer.error(f"usage: /set {words[0]} VALUE ('default' unsets it)")
        return True
    try:
        name = session.parameters.set(words[0], words[1])
    except ParameterError as exc:
        session.printer.error(str(exc))
        return True
    value = session.parameters.values.get(name)
    session.printer.info(f"{name} = {value}" if value is not None else f"{name}: the server's default")
    return True


def list_parameters(session: ChatSession) -> bool:
    for name, parameter in PARAMETERS.items():
        value = session.parameters.values.get(name)
        shown = "default" if value is None else str(value)
        session.printer.line(f"  {name:<12} {shown:<10} {parameter.help}")
    session.printer.info("/set NAME VALUE sets one; /set NAME default unsets it")
    return True


def reset(session: ChatSession, _: str) -> bool:
    session.conversation.reset()
    kept = " (the system message stays)" if session.conversation.system else ""
    session.printer.info(f"history cleared{kept}")
    return True


def save(session: ChatSession, path: str) -> bool:
    if not path:
        session.printer.error("usage: /save FILE")
        return True
    target = Path(path).expanduser()
    try:
        session.conversation.save(target)
    except TranscriptError as exc:
        session.printer.error(str(exc))
        return True
    session.printer.info(f"saved {len(session.conversation.messages)} messages to {target}")
    return True


def load(session: ChatSession, path: str) -> bool:
    if not path:
        session.printer.error("usage: /load FILE")
        return True
    try:
        session.conversation = Conversation.load(Path(path).expanduser(), session.conversation.model)
    except TranscriptError as exc:
        session.printer.error(str(exc))
        return True
    conversation = session.conversation
    session.printer.info(
        f"loaded {len(conversation.messages)} messages; model {conversation.model}"
        + (f", persona {conversation.persona}" if conversation.persona else "")
    )
    return True


def switch_model(session: ChatSession, model: str) -> bool:
    try:
        listed = session.endpoint.models()
    except SERVER_ERRORS as exc:
        session.fail(exc)
        return True
    if not model:
        for model_id, task in listed:
            mark = "*" if model_id == session.conversation.model else " "
            session.printer.line(f" {mark} {model_id}" + (f"  ({task})" if task else ""))
        return True
    if model not in {model_id for model_id, _ in listed}:
        session.printer.error(f"the server lists no model {model!r}; /model shows the ones it has")
        return True
    session.conversation.model = model
    session.printer.info(f"now talking to {model}")
    return True


def usage(session: ChatSession, _: str) -> bool:
    try:
        body = session.endpoint.usage()
    except SERVER_ERRORS as exc:
        session.fail(exc)
        return True
    printer = session.printer
    printer.line(f"calls today: {body.get('used')} used, {body.get('remaining')} left of {body.get('limit')}")
    for row in body.get("models", []):
        if row.get("model") == session.conversation.model:
            cap = f" (cap {row['limit']})" if row.get("limit") is not None else ""
            printer.line(f"{row['model']}: {row.get('used')} used, {row.get('remaining')} left{cap}")
    reset_in = body.get("reset_in_seconds")
    when = f" (in {human_duration(reset_in)})" if isinstance(reset_in, int | float) else ""
    printer.line(f"resets at {body.get('reset_at')}{when}")
    return True


def image(session: ChatSession, prompt: str) -> bool:
    if not prompt:
        session.printer.error("usage: /image PROMPT")
        return True
    printer = session.printer
    try:
        model = session.images.model or images.default_image_model(session.endpoint)
        path = images.generate(
            session.endpoint,
            model,
            prompt,
            session.images.folder,
            on_progress=printer.progress,
            poll_seconds=session.images.poll_seconds,
        )
    except KeyboardInterrupt:
        printer.end_progress()
        printer.info("[stopped waiting; the task goes on on the server]")
        return True
    except SERVER_ERRORS as exc:
        printer.end_progress()
        session.fail(exc)
        return True
    printer.end_progress()
    printer.line(f"saved {path}")
    return True


def quit_session(session: ChatSession, _: str) -> bool:
    return False


COMMANDS: dict[str, Command] = {
    "/system": Command(set_system, "TEXT", "set the system message (no text: show it)"),
    "/persona": Command(set_persona, "NAME", "talk to a persona (no name: list them)"),
    "/show": Command(show, "", "show the messages sent on every turn, and the parameters"),
    "/set": Command(set_parameter, "NAME VALUE", "set max_tokens, temperature, top_p or seed (alone: list)"),
    "/reset": Command(reset, "", "forget the conversation, keep the system message"),
    "/save": Command(save, "FILE", "save the conversation as JSON"),
    "/load": Command(load, "FILE", "load a saved conversation"),
    "/model": Command(switch_model, "ID", "switch model (no id: list them)"),
    "/image": Command(image, "PROMPT", "generate an image and save it"),
    "/usage": Command(usage, "", "calls left today and when the quota resets"),
    "/help": Command(show_help, "", "this list"),
    "/quit": Command(quit_session, "", "leave"),
}
ALIASES = {"/exit": "/quit", "/?": "/help", "/clear": "/reset"}


def run(session: ChatSession, line: str) -> bool:
    """Run one command line; False when the session should end."""
    name, _, rest = line.strip().partition(" ")
    command = COMMANDS.get(ALIASES.get(name.lower(), name.lower()))
    if command is None:
        session.printer.error(f"unknown command {name}; /help lists them")
        return True
    return command.run(session, rest.strip())
