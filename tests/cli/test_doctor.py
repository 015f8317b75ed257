"""`openmaas doctor`: a sound setup passes; each kind of problem is one FAIL line that says what to do,
and the exit status is 1. Run in-process through `main` (the engine imports are shared with the suite)."""

from __future__ import annotations

import importlib.util
import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from openmaas.cli.doctor.backends import clock_finding
from openmaas.cli.doctor.local import quota_day
from openmaas.cli.main import main
from openmaas.settings import Settings
from tests.conftest import SCRIPTED_MODELS
from tests.servers import free_port, server_process


def sound_registry(weights: Path) -> str:
    return f"""
include_builtin = false

[[models]]
id = "test/local-chat"
task = "chat"
engine = "transformers"
weights = "{weights}"

[[models]]
id = "test/demo-painter"
task = "image"
engine = "diffusers"
[models.options]
build_demo = true

[[models]]
id = "test/upstream"
task = "chat"
engine = "openai-compatible"
[models.options]
replicas = ["http://127.0.0.1:9/v1"]
"""


BROKEN_REGISTRY = """
include_builtin = false

[[models]]
id = "test/moved"
task = "chat"
engine = "transformers"
weights = "/nowhere/at/all"

[[models]]
id = "test/typo"
task = "chat"
engine = "transformerz"

[[models]]
id = "test/on-vllm"
task = "chat"
engine = "vllm"
weights = "/tmp"

[[models]]
id = "Org/NotDownloaded"
task = "embedding"
engine = "sentence-transformers"
"""


def doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, str]]:
    """Exit status, and each finding's line by its subject."""
    status = main(["doctor", *args])
    out = capsys.readouterr().out
    assert "\x1b[" not in out  # not a terminal: no colours
    lines = {}
    for line in out.splitlines()[1:-1]:
        found = re.fullmatch(r"  (ok|warn|FAIL|skip) +([^:]+): (.*)", line)
        assert found, line
        lines[found[2]] = f"{found[1]} {found[3]}"
    return status, lines


@pytest.fixture
def listening() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def test_a_sound_setup(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "weights").mkdir()
    models = tmp_path / "models.toml"
    models.write_text(sound_registry(tmp_path / "weights"))
    data = tmp_path / "data"
    args = ("--data-dir", str(data), "--models", str(models), "--port", str(free_port()))
    status, found = doctor(capsys, *args)
    assert status == 0
    assert found["data dir"] == f"ok {data} does not exist yet; the first command creates it"
    assert found["port"].startswith("ok 127.0.0.1:") and found["port"].endswith(" is free")
    assert "transformers" in found["engines"] and "diffusers" in found["engines"]
    assert found["registry"] == f"ok {models}: 3 models enabled"
    weights = tmp_path / "weights"
    assert found["model test/local-chat"] == f"ok chat, transformers engine; weights at {weights}"
    assert found["model test/demo-painter"] == "ok image, diffusers engine; needs no weights on this machine"
    assert found["model test/upstream"].startswith("ok chat, openai-compatible engine; needs no weights")
    assert found["database"] == f"ok SQLite {data / 'openmaas.db'} (created at the first start)"
    assert found["Redis"].startswith("skip not configured")
    assert found["quota day"].startswith("ok today is ")
    assert not data.exists()  # nothing was created


def test_every_problem_is_a_fail_line_that_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], listening: int
) -> None:
    a_file = tmp_path / "data"
    a_file.write_text("not a folder")
    models = tmp_path / "models.toml"
    models.write_text(BROKEN_REGISTRY)
    redis = f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0"
    args = (
        "--data-dir",
        str(a_file),
        "--models",
        str(models),
        "--port",
        str(listening),
        "--redis-url",
        redis,
    )
    status, found = doctor(capsys, *args)
    assert status == 1
    where = "choose another with --data-dir or OPENMAAS_DATA_DIR"
    assert found["data dir"] == f"FAIL {a_file}: not a folder: fix it, or {where}"
    assert found["port"].startswith(f"FAIL 127.0.0.1:{listening} is in use by another program: stop it, or")
    assert found["model test/moved"].startswith("FAIL chat, transformers engine: The weights of 'test/moved'")
    assert found["model test/typo"].startswith("FAIL chat, transformerz engine: unknown engine 'transformer")
    if importlib.util.find_spec("vllm") is None:
        assert found["model test/on-vllm"] == (
            "FAIL chat, vllm engine: needs vllm, which is not installed: pip install 'openmaas[vllm]' in a "
            "virtualenv of its own (make install-vllm builds one)"
        )
    downloaded = found["model Org/NotDownloaded"]
    if importlib.util.find_spec("modelscope") is None:
        assert downloaded.startswith("FAIL embedding, sentence-transformers engine: the weights of Org/")
        assert "pip install 'openmaas[hub]'" in downloaded
    else:
        assert "will be downloaded from the ModelScope hub at the first start" in downloaded
    assert found["Redis"].startswith(f"FAIL cannot reach Redis at 127.0.0.1:{redis.rsplit(':', 1)[1]} (")
    assert "hunter2" not in "".join(found.values())


def test_a_running_server_and_shared_services(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], postgres_url: str, redis_url: str
) -> None:
    models = tmp_path / "models.toml"
    models.write_text(SCRIPTED_MODELS)
    with server_process(tmp_path / "serving", models) as server:
        port = server.base_url.rsplit(":", 1)[1]
        shared = ("--database-url", postgres_url, "--redis-url", redis_url)
        status, found = doctor(capsys, "--port", port, *shared, "--data-dir", str(tmp_path / "data"))
    assert status == 0
    assert (
        found["port"] == f"ok 127.0.0.1:{port}: an OpenMaaS server runs there (ready); another needs --port"
    )
    agrees = "is reachable; its clock agrees with this machine's"
    assert re.fullmatch(rf"ok PostgreSQL [0-9.]+.* at 127.0.0.1:5432/\w+ {agrees}", found["database"])
    assert found["Redis"] == f"ok Redis at 127.0.0.1:6379/0 {agrees}"


def test_an_invalid_setting(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENMAAS_TIMEZONE", "Mars/Olympus_Mons")
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    expected = "invalid setting timezone: Value error, unknown time zone 'Mars/Olympus_Mons'"
    assert out == f"  FAIL  settings: {expected}\n"


def test_the_quota_day_in_both_zones() -> None:
    settings = Settings(timezone="Asia/Shanghai")
    noon = datetime(2026, 12, 8, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
    finding = quota_day(settings, now=noon, here=ZoneInfo("UTC"))
    assert (finding.status, finding.text) == (
        "ok",
        "today is 2026-12-08 in Asia/Shanghai; quotas reset at 00:00 there = 16:00 on this machine (UTC), "
        "in 12 h 0 min (OPENMAAS_TIMEZONE changes the zone)",
    )
    same_zone = quota_day(settings, now=noon, here=ZoneInfo("Asia/Shanghai"))
    assert "on this machine" not in same_zone.text
    stopped = quota_day(settings, now=datetime(1970, 1, 1, tzinfo=UTC))
    assert stopped.status == "fail" and "the system clock says 1970-01-01 00:00 UTC" in stopped.text


def test_clock_skew_is_a_warning() -> None:
    assert clock_finding("Redis", "Redis at h is reachable", 0.4).status == "ok"
    skewed = clock_finding("Redis", "Redis at h is reachable", -37.2)
    assert (
        skewed.status == "warn" and "its clock is 37 s behind this machine's: sync the clocks" in skewed.text
    )
