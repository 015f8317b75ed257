"""`openmaas chat` as a user runs it: a real process in a pseudo-terminal (pexpect) or with a pipe,
against a real `openmaas serve` on scripted engines that record every request they receive."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pexpect
import pytest

from tests.servers import REPO, ServerProcess, cli, server_process

# prompt_toolkit draws the prompt "you> " as "you>" and a cursor move, and draws it again with the
# accepted input before it returns (then it turns bracketed paste off): a fresh prompt is the next "you>"
# after that.
PROMPT = "you>"
INPUT_ACCEPTED = "\x1b[?2004l"
SCRIPTED = "tests.fakes:ScriptedChatEngine"
SLOW_REPLY = " ".join(f"word{i}" for i in range(60))


def models_toml(record: Path) -> str:
    return f"""
include_builtin = false

[[models]]
id = "test/persona"
task = "chat"
engine = "{SCRIPTED}"
[models.options]
reply = "Meow! You said: {{last_user}}"
record_file = {json.dumps(str(record))}

[[models]]
id = "test/slow"
task = "chat"
engine = "{SCRIPTED}"
[models.options]
reply = "{SLOW_REPLY}"
token_delay = 0.1
record_file = {json.dumps(str(record))}

[[models]]
id = "test/thinker"
task = "chat"
engine = "{SCRIPTED}"
[models.options]
reply = "The answer is 4."
reasoning = "Two plus two makes four."
"""


@dataclass
class ChatServer:
    process: ServerProcess
    token: str
    record: Path

    @property
    def base_url(self) -> str:
        return f"{self.process.base_url}/v1"

    def requests(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]

    def user_token(self, name: str, *extra: str) -> str:
        cli(self.process.data_dir, "users", "add", name, *extra)
        return cli(self.process.data_dir, "tokens", "create", name).stdout.strip()


@pytest.fixture(scope="package")
def chat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatServer]:
    root = tmp_path_factory.mktemp("chat")
    record = root / "requests.jsonl"
    models = root / "models.toml"
    models.write_text(models_toml(record))
    with server_process(root / "data", models) as process:
        cli(process.data_dir, "users", "add", "chatter")
        token = cli(process.data_dir, "tokens", "create", "chatter").stdout.strip()
        yield ChatServer(process, token, record)


def chat_env(base_url: str, token: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENMAAS_", "NO_COLOR"))}
    env.update(
        PYTHONPATH=str(REPO),
        OPENMAAS_BASE_URL=base_url,
        OPENMAAS_API_KEY=token,
        TERM="xterm-256color",
        # A real terminal answers prompt_toolkit's cursor-position requests; a pexpect pty does not.
        PROMPT_TOOLKIT_NO_CPR="1",
    )
    env.update(extra)
    return env


def spawn_chat(
    data_dir: Path, base_url: str, token: str, *args: str, env: dict[str, str] | None = None
) -> pexpect.spawn:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "openmaas", "chat", "--data-dir", str(data_dir), *args],
        env=env or chat_env(base_url, token),
        encoding="utf-8",
        timeout=30,
        dimensions=(50, 250),
    )
    child.expect_exact(PROMPT)
    return child


def say(child: pexpect.spawn, line: str) -> str:
    """Type a line, wait for the next prompt; what was printed in between."""
    child.sendline(line)
    child.expect_exact(INPUT_ACCEPTED)
    child.expect_exact(PROMPT)
    return str(child.before)


def quit_chat(child: pexpect.spawn) -> int:
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    child.close()
    return int(child.exitstatus if child.exitstatus is not None else -1)


def piped(
    data_dir: Path, base_url: str, token: str, question: str, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "openmaas", "chat", "--data-dir", str(data_dir), *args],
        input=question,
        capture_output=True,
        text=True,
        timeout=60,
        env=chat_env(base_url, token, **env),
        check=False,
    )
