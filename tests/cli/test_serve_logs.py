"""What `openmaas serve` writes: short coloured lines on a terminal (a real pty, with pexpect), JSON lines
when stderr is a file, and whichever `--log-format` or `OPENMAAS_LOG_FORMAT` asks for."""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

import httpx
import pexpect

from tests.conftest import SCRIPTED_MODELS
from tests.servers import _env, free_port, server_process

ANSI = re.compile(r"\x1b\[[0-9;]*m")
TOKEN = re.compile(r"Access token for user 'local': (ms-[0-9a-f-]{36})")


def spawn_serve(tmp_path: Path, *args: str, **env: str) -> tuple[pexpect.spawn, str, str]:
    """`openmaas serve --local-token` in a pseudo-terminal; (the process, its base URL, the token)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    models = tmp_path / "models.toml"
    models.write_text(SCRIPTED_MODELS)
    port = free_port()
    command = ["-m", "openmaas", "serve", "--port", str(port), "--local-token"]
    command += ["--data-dir", str(tmp_path / "data"), "--models", str(models), *args]
    child = pexpect.spawn(
        sys.executable, command, env={**_env(), **env}, encoding="utf-8", timeout=60, dimensions=(50, 250)
    )
    child.logfile_read = io.StringIO()
    child.expect(TOKEN)
    token = child.match.group(1)
    child.expect_exact("Ready: ")
    return child, f"http://127.0.0.1:{port}", token


def stop(child: pexpect.spawn) -> None:
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()


def chat(base_url: str, token: str, model: str = "test/scripted") -> int:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.post(f"{base_url}/v1/chat/completions", json=body, headers=headers, timeout=30).status_code


def test_a_terminal_gets_short_coloured_lines(tmp_path: Path) -> None:
    child, base_url, token = spawn_serve(tmp_path, NO_COLOR="")
    assert chat(base_url, token) == 200
    child.expect(r"POST /v1/chat/completions  \x1b\[32m200\x1b\[0m  local  test/scripted  [0-9.]+ ms  ")
    assert chat(base_url, token, model="no/such") == 404
    child.expect(r"\x1b\[33m404\x1b\[0m \x1b\[33mmodel_not_found\x1b\[0m  local  no/such")
    stop(child)
    shown = ANSI.sub("", child.logfile_read.getvalue()).replace("\r\n", "\n")
    assert "{" not in shown  # no JSON anywhere
    line = r"^\d\d:\d\d:\d\d INFO  "
    ready = r"engines.manager  model ready  model=test/scripted seconds=[0-9.]+$"
    assert re.search(line + ready, shown, re.M)
    assert re.search(line + "uvicorn  Application shutdown complete.$", shown, re.M)


def test_the_format_can_be_chosen(tmp_path: Path) -> None:
    child, base_url, token = spawn_serve(tmp_path / "json", OPENMAAS_LOG_FORMAT="json")
    assert chat(base_url, token) == 200
    child.expect(r"\{[^\n]*\"logger\":\"openmaas.access\"[^\n]*\}")
    entry = json.loads(child.match.group(0))
    assert (entry["path"], entry["status"], entry["user"], entry["model"]) == (
        "/v1/chat/completions",
        200,
        "local",
        "test/scripted",
    )
    stop(child)

    models = tmp_path / "models.toml"
    models.write_text(SCRIPTED_MODELS)
    with server_process(tmp_path / "text", models, extra=("--log-format", "text")) as server:
        assert httpx.get(f"{server.base_url}/v1/models").status_code == 200
    logged = server.log()
    assert "\x1b[" not in logged  # a file gets no colours
    assert re.search(r"^\d\d:\d\d:\d\d INFO  GET /v1/models  200  [0-9.]+ ms  req-[0-9a-f]{8}$", logged, re.M)


def test_json_lines_when_stderr_is_a_file(tmp_path: Path) -> None:
    models = tmp_path / "models.toml"
    models.write_text(SCRIPTED_MODELS)
    with server_process(tmp_path / "data", models) as server:
        assert httpx.get(f"{server.base_url}/v1/models").status_code == 200
    entries = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    access = [e for e in entries if e["logger"] == "openmaas.access"]
    assert access and access[0]["path"] == "/v1/models" and access[0]["request_id"].startswith("req-")
