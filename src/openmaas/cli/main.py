"""The `openmaas` command: argument parsing and dispatch to one module per command group.

    openmaas serve [--host H] [--port P] [--data-dir DIR] [--models FILE] [--log-format auto|text|json]
                   [--shutdown-grace SECONDS]
    openmaas users add NAME [--daily-limit N] [--model-daily-limit N] [--admin]
    openmaas users list | users set NAME [--daily-limit N] [--model-daily-limit N]
    openmaas tokens create NAME | tokens list [NAME] | tokens revoke TOKEN_OR_PREFIX
    openmaas usage [NAME]
    openmaas models list
    openmaas chat [--model ID] [--persona NAME | --system TEXT] [--base-url URL] [--api-key TOKEN]
                  [--max-tokens N] [--temperature T] [--top-p P] [--seed N]
    openmaas worker --models FILE [--host H] [--port P] --redis-url URL
    openmaas doctor [--host H] [--port P] [--data-dir DIR] [--models FILE]

Every command takes `--data-dir` (else `$OPENMAAS_DATA_DIR`, else `~/.openmaas`), and `--database-url` /
`--redis-url` for the scaled-out mode. Errors are one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from openmaas import __version__
from openmaas.cli.errors import CommandError


def _limit(text: str) -> int | None:
    """A limit argument: a non-negative integer, or `default` to use the server's default."""
    if text.lower() in ("default", "none"):
        return None
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a whole number or 'default', got {text!r}") from exc
    if value < 0:
        raise argparse.ArgumentTypeError("a limit cannot be negative")
    return value


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", type=Path, help="data folder (default: $OPENMAAS_DATA_DIR or ~/.openmaas)"
    )
    parser.add_argument("--models", dest="models_file", type=Path, help="model registry file (TOML)")
    parser.add_argument(
        "--database-url",
        help="records database, e.g. postgresql://user@host:5432/db (default: SQLite in the data dir)",
    )
    parser.add_argument(
        "--redis-url", help="Redis for quota counters, token cache and workers, e.g. redis://host:6379/0"
    )


def _log_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-format",
        choices=("auto", "text", "json"),
        help="text: short lines for people; json: JSON lines for machines; "
        "auto (default, or $OPENMAAS_LOG_FORMAT): text on a terminal, else json",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openmaas", description="OpenMaaS: self-hosted Model-as-a-Service.")
    parser.add_argument("--version", action="version", version=f"openmaas {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the API server")
    _common(serve)
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8000; 0 picks a free one)")
    _log_format(serve)
    serve.add_argument(
        "--shutdown-grace",
        type=float,
        metavar="SECONDS",
        help="seconds running calls may take to finish after SIGTERM (default 25; $OPENMAAS_SHUTDOWN_GRACE)",
    )
    serve.add_argument(
        "--local-token",
        action="store_true",
        help="create the admin user 'local' if needed and print a new token",
    )

    users = commands.add_parser("users", help="manage users and their daily limits").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    add = users.add_parser("add", help="add a user")
    add.add_argument("name")
    add.add_argument("--daily-limit", type=_limit, help="calls per day, all models (default: server default)")
    add.add_argument("--model-daily-limit", type=_limit, help="calls per day on each model (default: none)")
    add.add_argument("--admin", action="store_true", help="may use the admin API")
    _common(add)
    listing = users.add_parser("list", help="list users with their limits and today's calls")
    _common(listing)
    change = users.add_parser("set", help="change a user's limits ('default' restores the server default)")
    change.add_argument("name")
    # SUPPRESS: an absent flag leaves no attribute, so "--daily-limit default" (None) differs from absent.
    change.add_argument("--daily-limit", type=_limit, default=argparse.SUPPRESS)
    change.add_argument("--model-daily-limit", type=_limit, default=argparse.SUPPRESS)
    admin = change.add_mutually_exclusive_group()
    admin.add_argument("--admin", dest="admin", action="store_true", default=argparse.SUPPRESS)
    admin.add_argument("--no-admin", dest="admin", action="store_false", default=argparse.SUPPRESS)
    _common(change)

    tokens = commands.add_parser("tokens", help="manage access tokens").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    create = tokens.add_parser("create", help="create a token for a user; prints it alone on stdout")
    create.add_argument("name")
    create.add_argument("--label", default="", help="a note to recognise the token by")
    create.add_argument(
        "--model", dest="models", action="append", help="restrict the token to a model (repeatable)"
    )
    _common(create)
    tlist = tokens.add_parser("list", help="list tokens (prefixes only)")
    tlist.add_argument("name", nargs="?")
    _common(tlist)
    revoke = tokens.add_parser("revoke", help="revoke a token, by its full text or its prefix")
    revoke.add_argument("token")
    _common(revoke)

    usage = commands.add_parser("usage", help="calls and tokens used today")
    usage.add_argument("name", nargs="?")
    usage.add_argument("--days", type=int, default=1, help="how many days back, today included (default 1)")
    _common(usage)

    worker = commands.add_parser(
        "worker", help="run model engines for API processes (registers itself in Redis)"
    )
    _common(worker)
    worker.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    worker.add_argument("--port", type=int, default=8100, help="port (default 8100)")
    worker.add_argument(
        "--worker-url", help="URL the API processes reach this worker at (default: http://HOST:PORT)"
    )
    _log_format(worker)

    doctor = commands.add_parser(
        "doctor",
        help="check this setup and say what is wrong",
        description="Checks what `serve` needs with the same settings: the data dir, the port, the engines, "
        "every model's engine and weights, PostgreSQL and Redis when configured, the quota day's clock. "
        "Exit status 1 when something is wrong. Nothing is changed, loaded or downloaded.",
    )
    _common(doctor)
    doctor.add_argument("--host", help="address serve would listen on (default 127.0.0.1)")
    doctor.add_argument("--port", type=int, help="port serve would listen on (default 8000)")

    models = commands.add_parser("models", help="the model registry").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    _common(models.add_parser("list", help="list the models this server would serve"))

    _chat_parser(commands)
    return parser


def _chat_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    chat = commands.add_parser(
        "chat",
        help="chat in the terminal with a persona (any OpenAI-compatible endpoint)",
        description="Chat with a model; the history is kept, so the persona and earlier turns persist. "
        "Piped input (echo QUESTION | openmaas chat) is answered once.",
    )
    chat.add_argument("--model", help="model id (default: the server's first chat model)")
    who = chat.add_mutually_exclusive_group()
    who.add_argument("--persona", help="a persona by name: cat, wukong, assistant, ... (default: assistant)")
    who.add_argument("--system", help="a system message of your own")
    chat.add_argument(
        "--base-url", help="OpenAI base URL (default: $OPENMAAS_BASE_URL or http://127.0.0.1:8000/v1)"
    )
    chat.add_argument("--api-key", help="access token (default: $OPENMAAS_API_KEY)")
    sampling = chat.add_argument_group("generation parameters (also /set NAME VALUE in the session)")
    sampling.add_argument("--max-tokens", metavar="N", help="most tokens in an answer")
    sampling.add_argument("--temperature", metavar="T", help="0 to 2: lower is more focused")
    sampling.add_argument("--top-p", metavar="P", help="above 0 to 1: nucleus sampling")
    sampling.add_argument("--seed", metavar="N", help="the same seed and question give the same answer")
    chat.add_argument("--no-color", action="store_true", help="plain output (also when NO_COLOR is set)")
    chat.add_argument("--image-model", help="model for /image (default: the server's first image model)")
    chat.add_argument("--image-dir", type=Path, help="where /image saves pictures (default: here)")
    chat.add_argument(
        "--data-dir", type=Path, help="personas.toml and the input history (default: ~/.openmaas)"
    )


def _handler(args: argparse.Namespace) -> Callable[[argparse.Namespace], int]:
    if args.command == "serve":
        from openmaas.cli.serve import run_serve

        return run_serve
    if args.command == "worker":
        from openmaas.cli.worker import run_worker

        return run_worker
    if args.command == "models":
        from openmaas.cli.models import run_models

        return run_models
    if args.command == "chat":
        from openmaas.cli.chat.repl import run_chat

        return run_chat
    if args.command == "doctor":
        from openmaas.cli.doctor import run_doctor

        return run_doctor
    from openmaas.cli.accounts import run_accounts

    return run_accounts


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _handler(args)(args)
    except CommandError as exc:
        print(f"openmaas: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
