"""Every admin command honours --database-url and --redis-url (the scaled-out mode's records)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.servers import REPO, _env


def openmaas(*args: str, prefix: str) -> subprocess.CompletedProcess[str]:
    env = {**_env(), "OPENMAAS_REDIS_PREFIX": prefix}
    return subprocess.run(
        [sys.executable, "-m", "openmaas", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )


def test_admin_commands_on_postgresql_and_redis(
    tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str
) -> None:
    where = ["--database-url", postgres_url, "--redis-url", redis_url, "--data-dir", str(tmp_path)]
    assert (
        openmaas("users", "add", "carol", "--daily-limit", "5", *where, prefix=redis_prefix).returncode == 0
    )
    token = openmaas("tokens", "create", "carol", *where, prefix=redis_prefix).stdout.strip()
    assert token.startswith("ms-")
    listing = openmaas("users", "list", *where, prefix=redis_prefix).stdout
    assert "carol" in listing and "5" in listing
    assert "active" in openmaas("tokens", "list", "carol", *where, prefix=redis_prefix).stdout
    assert openmaas("tokens", "revoke", token[:11], *where, prefix=redis_prefix).returncode == 0
    assert "revoked" in openmaas("tokens", "list", "carol", *where, prefix=redis_prefix).stdout
    assert openmaas("usage", *where, prefix=redis_prefix).returncode == 0
    # The records are in PostgreSQL, not in the data dir's SQLite.
    assert not (tmp_path / "openmaas.db").exists()
