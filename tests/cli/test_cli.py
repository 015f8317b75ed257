"""The operator's commands, run as separate processes the way an operator runs them."""

from __future__ import annotations

from pathlib import Path

from openmaas.access.tokens import is_token
from tests.servers import cli


def test_users_tokens_usage_round_trip(tmp_path: Path) -> None:
    data = tmp_path / "data"
    added = cli(data, "users", "add", "alice", "--daily-limit", "100", "--model-daily-limit", "20")
    assert "alice" in added.stdout and "100" in added.stdout
    cli(data, "users", "add", "root", "--admin")
    duplicate = cli(data, "users", "add", "alice", check=False)
    assert (
        duplicate.returncode == 1
        and "already exists" in duplicate.stderr
        and "Traceback" not in duplicate.stderr
    )

    listing = cli(data, "users", "list").stdout
    assert "alice" in listing and "100" in listing and "2000 (default)" in listing

    changed = cli(
        data, "users", "set", "alice", "--daily-limit", "default", "--model-daily-limit", "7"
    ).stdout
    assert "2000 (default)" in changed and "per-model limit 7" in changed
    nothing = cli(data, "users", "set", "alice", check=False)
    assert nothing.returncode == 1 and "nothing to change" in nothing.stderr

    token = cli(data, "tokens", "create", "alice").stdout
    assert token.endswith("\n") and token.count("\n") == 1 and is_token(token.strip())
    missing = cli(data, "tokens", "create", "nobody", check=False)
    assert missing.returncode == 1 and "no user named" in missing.stderr

    tokens = cli(data, "tokens", "list").stdout
    assert token.strip()[:11] in tokens and token.strip() not in tokens and "active" in tokens

    revoked = cli(data, "tokens", "revoke", token.strip()[:11]).stdout
    assert "revoked" in revoked
    again = cli(data, "tokens", "revoke", token.strip(), check=False)
    assert again.returncode == 1 and "no active token" in again.stderr
    assert "revoked" in cli(data, "tokens", "list", "alice").stdout

    assert "DAY" in cli(data, "usage").stdout
    assert cli(data, "usage", "ghost", check=False).returncode == 1


def test_models_list_and_bad_registry(tmp_path: Path) -> None:
    listing = cli(tmp_path, "models", "list").stdout
    assert "HuggingFaceTB/SmolLM2-135M-Instruct" in listing and "openvino" in listing
    bad = tmp_path / "bad.toml"
    bad.write_text('[[models]]\nid = "a/b"\ntask = "chat"\nengine = "x"\ncolour = "blue"\n')
    result = cli(tmp_path, "models", "list", models_file=bad, check=False)
    assert result.returncode == 1 and "colour" in result.stderr and "Traceback" not in result.stderr


def test_bad_limit_argument(tmp_path: Path) -> None:
    result = cli(tmp_path, "users", "add", "x", "--daily-limit", "lots", check=False)
    assert result.returncode == 2 and "whole number" in result.stderr
