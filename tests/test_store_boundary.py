"""The store boundary holds: no module outside `openmaas.store` imports a database, Redis, job-queue or
object-storage driver (docs/architecture.md). A module that needs one of them asks `openmaas.store`."""

from __future__ import annotations

import ast
from pathlib import Path

import openmaas

#: Every driver the store speaks through (see pyproject.toml): SQL (SQLAlchemy and its migrations, the
#: PostgreSQL and SQLite drivers), the job queue on PostgreSQL, Redis, S3-compatible object storage.
DRIVERS = frozenset(
    {
        "sqlalchemy",
        "alembic",
        "asyncpg",
        "psycopg",
        "psycopg_pool",
        "aiosqlite",
        "sqlite3",
        "procrastinate",
        "redis",
        "hiredis",
        "boto3",
        "botocore",
    }
)
PACKAGE = Path(openmaas.__file__).parent
STORE = PACKAGE / "store"


def imported_modules(tree: ast.AST) -> set[str]:
    """The top-level names of every module a tree imports, wherever the import stands (lazy ones too)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            names.add(node.module.partition(".")[0])
    return names


def drivers_outside_the_store() -> dict[str, set[str]]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.is_relative_to(STORE):
            continue
        drivers = imported_modules(ast.parse(path.read_text(), str(path))) & DRIVERS
        if drivers:
            found[str(path.relative_to(PACKAGE))] = drivers
    return found


def test_no_module_outside_the_store_imports_a_driver() -> None:
    assert drivers_outside_the_store() == {}


def test_the_scan_sees_every_kind_of_import() -> None:
    tree = ast.parse(
        "import redis.asyncio\nfrom sqlalchemy import text\ndef f():\n    import asyncpg\n"
        "from . import sibling\nfrom openmaas.store import backends\n"
    )
    assert imported_modules(tree) & DRIVERS == {"redis", "sqlalchemy", "asyncpg"}


def test_the_store_itself_is_scanned_elsewhere() -> None:
    """The exemption covers exactly the store package: its drivers are found when it is not exempt."""
    drivers = set().union(*(imported_modules(ast.parse(p.read_text())) for p in STORE.rglob("*.py")))
    assert {"sqlalchemy", "redis", "procrastinate", "boto3"} <= drivers
