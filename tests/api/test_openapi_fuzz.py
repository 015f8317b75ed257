"""Schemathesis over `/openapi.json` of a real server: every operation, valid and invalid input, a fixed
seed and a bounded number of examples (tests/fuzz.py). No answer may be a 5xx, and every answer must be
what the document says: a declared status, its content type, its headers, a body valid for its schema.

The server runs scripted engines (tests/fakes.py) so that the fuzzing measures the gateway, not a
model; its caller is an admin, so the admin API is reached too. `make torture` runs the same with ten
thousand requests and more (bench/torture.py). `OPENMAAS_FUZZ_EXAMPLES` sets the examples per operation.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.fuzz import fuzz
from tests.servers import cli, server_process

EXAMPLES = int(os.environ.get("OPENMAAS_FUZZ_EXAMPLES", "25"))
SEED = 20261206
FUZZ_MODELS = """
include_builtin = false

[[models]]
id = "test/scripted"
task = "chat"
engine = "tests.fakes:ScriptedChatEngine"

[[models]]
id = "test/embedder"
task = "embedding"
engine = "tests.fakes:ScriptedEmbeddingEngine"

[[models]]
id = "test/painter"
task = "image"
engine = "tests.fakes:ScriptedImageEngine"
capabilities = ["edit", "size:64x64-256x256"]
[models.options]
default_size = "64x64"
default_steps = 2
"""


@dataclass(frozen=True)
class FuzzTarget:
    base_url: str
    token: str
    token_id: str


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    root = tmp_path_factory.mktemp("fuzz")
    (root / "models.toml").write_text(FUZZ_MODELS)
    data = root / "data"
    cli(data, "users", "add", "root", "--admin", "--daily-limit", "1000000")
    token = cli(data, "tokens", "create", "root").stdout.strip()
    with server_process(data, root / "models.toml") as server:
        me = httpx.get(f"{server.base_url}/console/api/me", headers={"Authorization": f"Bearer {token}"})
        yield FuzzTarget(server.base_url, token, str(me.json()["token"]["id"]))


def revokes_our_token(case: Any, target: FuzzTarget) -> bool:
    """Revoking the fuzzer's own token would turn the rest of the run into 401s."""
    return case.method == "DELETE" and str(case.path_parameters.get("token", "")) in (
        target.token_id,
        target.token[:11],
    )


def test_every_operation(fuzz_target: FuzzTarget) -> None:
    report = fuzz(
        fuzz_target.base_url,
        fuzz_target.token,
        examples=EXAMPLES,
        seed=SEED,
        skip=lambda case: revokes_our_token(case, fuzz_target),
    )
    assert len(report.operations) >= 30 and report.requests > 5 * len(report.operations)
    assert not report.failures, "\n\n".join(report.failures)
    assert report.server_errors == 0


def test_the_document_declares_what_the_server_answers(fuzz_target: FuzzTarget) -> None:
    document = httpx.get(f"{fuzz_target.base_url}/openapi.json").json()
    operations = [op for path in document["paths"].values() for op in path.values()]
    assert all("422" not in op["responses"] for op in operations)
    assert "HTTPValidationError" not in document["components"]["schemas"]
    chat = document["paths"]["/v1/chat/completions"]["post"]["responses"]
    assert {"200", "400", "401", "403", "404", "413", "429", "500", "503"} <= set(chat)
    assert set(chat["200"]["content"]) == {"application/json", "text/event-stream"}
    assert chat["429"]["headers"]["Retry-After"]
    error = chat["400"]["content"]["application/json"]["schema"]["$ref"]
    assert error.endswith("/OpenAIErrorBody")
    messages = document["paths"]["/v1/messages"]["post"]["responses"]
    assert messages["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/AnthropicErrorBody")
    assert set(document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == {"text/plain"}
    assert set(document["paths"]["/v1/files/{key}"]["get"]["responses"]["200"]["content"]) == {"image/png"}
