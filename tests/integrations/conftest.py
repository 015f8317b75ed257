"""One real `openmaas serve` process on scripted engines, shared by the LangChain tests.

Its models: the seed page's model id answering a fixed translation, a plain echo, a thinking model, a
tool-calling model and a JSON answerer; each records the requests it receives.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.servers import ServerProcess, cli, server_process

SCRIPTED = "tests.fakes:ScriptedChatEngine"


def models_toml(record: Path) -> str:
    def model(model_id: str, **options: str) -> str:
        lines = [f'[[models]]\nid = "{model_id}"\ntask = "chat"\nengine = "{SCRIPTED}"\n[models.options]']
        lines.append(f"record_file = {json.dumps(str(record))}")
        lines += [f"{key} = {json.dumps(value, ensure_ascii=False)}" for key, value in options.items()]
        return "\n".join(lines)

    return "\n\n".join(
        [
            "include_builtin = false",
            model("Qwen/Qwen2.5-Coder-32B-Instruct", reply="我喜欢编程。"),
            model("test/echo", reply="Hello! You said: {last_user}"),
            model("test/thinker", reply="The answer is 4.", reasoning="Two plus two makes four."),
            model(
                "test/tools",
                reply="It is sunny in Paris.",
                tool_arguments='{"city": "Paris", "unit": "celsius"}',
            ),
            model(
                "test/json",
                reply='{{"setup": "Why did the cat sit on the keyboard?", '
                '"punchline": "To keep an eye on the mouse."}}',
            ),
        ]
    )


@dataclass
class LangChainServer:
    process: ServerProcess
    token: str
    record: Path

    @property
    def base_url(self) -> str:
        return f"{self.process.base_url}/v1"

    def requests(self) -> list[dict[str, Any]]:
        """Every request the scripted engines received, oldest first."""
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]

    def last_request(self) -> dict[str, Any]:
        return self.requests()[-1]

    def user_token(self, name: str, *extra: str) -> str:
        cli(self.process.data_dir, "users", "add", name, *extra)
        return cli(self.process.data_dir, "tokens", "create", name).stdout.strip()


@pytest.fixture(scope="package")
def lc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LangChainServer]:
    root = tmp_path_factory.mktemp("langchain")
    record = root / "requests.jsonl"
    models = root / "models.toml"
    models.write_text(models_toml(record))
    with server_process(root / "data", models) as process:
        cli(process.data_dir, "users", "add", "lc-user")
        token = cli(process.data_dir, "tokens", "create", "lc-user").stdout.strip()
        yield LangChainServer(process, token, record)


@pytest.fixture
def lc_env(lc_server: LangChainServer, monkeypatch: pytest.MonkeyPatch) -> LangChainServer:
    """Point clients built without arguments at the test server, the way a user would."""
    monkeypatch.setenv("OPENMAAS_BASE_URL", lc_server.base_url)
    monkeypatch.setenv("MODELSCOPE_SDK_TOKEN", lc_server.token)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENMAAS_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return lc_server
