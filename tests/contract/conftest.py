"""One real `openmaas serve` process on scripted engines, shared by the SDK contract tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI

from tests.conftest import SCRIPTED_MODELS
from tests.servers import ServerProcess, cli, server_process
from tests.tiny_models import build_tiny_chat_model


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("sdk")
    models = root / "models.toml"
    models.write_text(SCRIPTED_MODELS)
    with server_process(root / "data", models) as running:
        yield running


def new_token(server: ServerProcess, name: str, *extra: str) -> str:
    """A fresh token for `name`, adding the user (with `extra` flags) on first use."""
    data = server.data_dir
    if f"\n{name} " not in cli(data, "users", "list").stdout:
        cli(data, "users", "add", name, *extra)
    return cli(data, "tokens", "create", name).stdout.strip()


def client_for(server: ServerProcess, name: str, *extra: str) -> OpenAI:
    return OpenAI(base_url=f"{server.base_url}/v1", api_key=new_token(server, name, *extra), max_retries=0)


PARSED_REPLY = (
    "<think>The user wants the weather. </think>Checking. "
    '<tool_call> {{"name": "get_weather", "arguments": {{"city": "Paris", "days": 2}}}} </tool_call>'
)


#: Per local engine, the options that make the tiny model's answers exact (no bf16 arithmetic).
EXACT_OPTIONS = {"transformers": 'dtype = "float32"', "openvino": 'precision = "fp16"'}


def tiny_registry(tiny: Path, engine: str) -> str:
    return f"""
include_builtin = false

[[models]]
id = "test/tiny"
task = "chat"
engine = "{engine}"
weights = "{tiny}"
tool_parser = "hermes"
context_length = 512
[models.options]
{EXACT_OPTIONS[engine]}
max_batch_size = 4

# The same weights with room for answers long enough to outlast a client (see the stream-cut test).
[[models]]
id = "test/tiny-long"
task = "chat"
engine = "{engine}"
weights = "{tiny}"
context_length = 4096
default_max_tokens = 100
[models.options]
{EXACT_OPTIONS[engine]}
max_batch_size = 2

[[models]]
id = "test/tiny-thinker"
task = "chat"
engine = "{engine}"
weights = "{tiny}"
reasoning_parser = "think-open"
context_length = 512
[models.options]
{EXACT_OPTIONS[engine]}
max_batch_size = 2

[[models]]
id = "test/parsed"
task = "chat"
engine = "tests.fakes:ScriptedChatEngine"
tool_parser = "hermes"
reasoning_parser = "think"
[models.options]
reply = '{PARSED_REPLY}'

[[models]]
id = "test/tool-user"
task = "chat"
engine = "tests.fakes:ScriptedChatEngine"
[models.options]
reply = "It is sunny: {{last_user}}"
tool_arguments = '{{"city": "Paris", "days": 1}}'
"""


@pytest.fixture(scope="session", params=sorted(EXACT_OPTIONS))
def tiny_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A real server on the tiny random-weight model, on each local engine in turn (the engine-agnostic
    contract tests run on both), and scripted models that exercise the output parsers; see
    `tiny_registry`."""
    root = tmp_path_factory.mktemp(f"tiny-server-{request.param}")
    tiny = build_tiny_chat_model(root / "tiny", max_positions=4096)
    models = root / "models.toml"
    models.write_text(tiny_registry(tiny, request.param))
    with server_process(root / "data", models) as running:
        yield running
