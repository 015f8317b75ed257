"""What the commands share: settings from flags and environment, and aligned text tables."""

from __future__ import annotations

import argparse
from typing import Any

from pydantic import ValidationError

from openmaas.cli.errors import CommandError
from openmaas.settings import Settings

_FLAG_SETTINGS = (
    "data_dir",
    "models_file",
    "host",
    "port",
    "database_url",
    "redis_url",
    "worker_url",
    "log_format",
    "shutdown_grace",
)


def settings_from(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        name: getattr(args, name) for name in _FLAG_SETTINGS if getattr(args, name, None) is not None
    }
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CommandError(f"invalid setting {where}: {first['msg']}") from exc


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain aligned text table."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)
