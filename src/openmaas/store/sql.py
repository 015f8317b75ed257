"""The SQL store: users, tokens, the usage ledger, quota counters, tasks and stored responses on SQLite
or PostgreSQL.

Every query is written once, as a plain function of a SQLAlchemy `Connection`. How it runs depends on
the database:

- SQLite (the embedded default) runs the function inline on the event loop with the stdlib driver. A
  query here costs tens of microseconds, much less than a hop to a worker thread would. WAL mode lets
  the CLI add users and revoke tokens while a server runs on the same file.
- PostgreSQL runs it through the async engine (asyncpg) with `AsyncConnection.run_sync`.

In the scaled-out mode, `CachedRecordStore` (`auth_cache.py`) caches token lookups around this store.
The hot statements (token lookup, counter increments, ledger upsert) are built once with bind parameters
so SQLAlchemy's compiled cache serves them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime
from importlib.resources import files
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import and_, bindparam, create_engine, event, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from openmaas.domain.accounts import Caller, TokenInfo, UsageRow, User
from openmaas.domain.errors import InvalidRequest, NotFound
from openmaas.store.base import TOTAL, UNSET, QuotaCounter, QuotaState, RecordStore, Unset
from openmaas.store.responses import SqlResponseStore
from openmaas.store.schema import quota_counters, tokens, usage_daily, users
from openmaas.store.tasks import SqlTaskStore

T = TypeVar("T")

_TOKEN_COLUMNS = (
    tokens.c.id.label("token_id"),
    tokens.c.user_id,
    users.c.name.label("user_name"),
    tokens.c.prefix,
    tokens.c.label,
    tokens.c.models,
    tokens.c.created_at.label("token_created_at"),
    tokens.c.revoked_at,
)
_TOKENS_WITH_USER = select(*_TOKEN_COLUMNS).join(users, users.c.id == tokens.c.user_id)
_CALLER_BY_HASH = (
    select(users, *_TOKEN_COLUMNS)
    .join(users, users.c.id == tokens.c.user_id)
    .where(and_(tokens.c.token_hash == bindparam("token_hash"), tokens.c.revoked_at.is_(None)))
)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC)


def _user(row: Any) -> User:
    return User(
        id=row.id,
        name=row.name,
        is_admin=bool(row.is_admin),
        daily_limit=row.daily_limit,
        model_daily_limit=row.model_daily_limit,
        created_at=_utc(row.created_at) or _now(),
    )


def _token(row: Any) -> TokenInfo:
    return TokenInfo(
        id=row.token_id,
        user_id=row.user_id,
        user_name=row.user_name,
        prefix=row.prefix,
        label=row.label,
        models=tuple(row.models) if row.models is not None else None,
        created_at=_utc(row.token_created_at) or _now(),
        revoked_at=_utc(row.revoked_at),
    )


# Any fixed 64-bit number, the same in every process: PostgreSQL's advisory lock that serialises the
# migrations of processes starting at the same moment (the others wait, then find nothing to do).
_MIGRATION_LOCK = 0x6F70656E6D616173  # "openmaas"


def _run_migrations(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
    config = Config()
    config.set_main_option("script_location", str(files("openmaas.store") / "migrations"))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000", "foreign_keys=ON"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


class SqlStore(RecordStore, QuotaCounter, SqlTaskStore, SqlResponseStore):
    """Records, quota counters, tasks (`store/tasks.py`) and stored responses (`store/responses.py`) in
    one SQL database. `url` is a SQLAlchemy URL (`sqlite:///…` or `postgresql+asyncpg://…`)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._sync: Engine | None = None
        self._conn: Connection | None = None
        self._async: AsyncEngine | None = None
        if url.startswith("sqlite"):
            self._sync = create_engine(url)
            event.listen(self._sync, "connect", _sqlite_pragmas)
            insert: Any = sqlite.insert
        else:
            self._async = create_async_engine(url, pool_pre_ping=True)
            insert = postgresql.insert
        self._increment = self._build_increment(insert)
        self._ledger_upsert = self._build_ledger_upsert(insert)

    # ---- running queries ------------------------------------------------------------------------

    def _inline(self) -> Connection:
        """The one SQLite connection, used only from the event loop's thread (so never concurrently)."""
        if self._conn is None or self._conn.closed:
            assert self._sync is not None
            self._conn = self._sync.connect()
        return self._conn

    async def _read(self, query: Callable[..., T], *args: Any) -> T:
        if self._sync is not None:
            conn = self._inline()
            try:
                return query(conn, *args)
            finally:
                conn.rollback()  # end the implicit transaction: never hold a stale WAL snapshot
        assert self._async is not None
        async with self._async.connect() as aconn:
            return await aconn.run_sync(query, *args)

    async def _write(self, query: Callable[..., T], *args: Any) -> T:
        if self._sync is not None:
            conn = self._inline()
            with conn.begin():
                return query(conn, *args)
        assert self._async is not None
        async with self._async.begin() as aconn:
            return await aconn.run_sync(query, *args)

    async def open(self) -> None:
        for attempt in range(3):
            try:
                await self._write(_run_migrations)
                return
            except (OperationalError, IntegrityError):
                # Another process migrated at the same moment; the next attempt sees its result.
                if attempt == 2:
                    raise
                await asyncio.sleep(0.2)

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._sync is not None:
            self._sync.dispose()
        if self._async is not None:
            await self._async.dispose()

    # ---- users ----------------------------------------------------------------------------------

    async def add_user(
        self, name: str, *, is_admin: bool, daily_limit: int | None, model_daily_limit: int | None
    ) -> User:
        def insert(conn: Connection) -> None:
            conn.execute(
                users.insert().values(
                    name=name,
                    is_admin=is_admin,
                    daily_limit=daily_limit,
                    model_daily_limit=model_daily_limit,
                    created_at=_now(),
                )
            )

        try:
            await self._write(insert)
        except IntegrityError as exc:
            raise InvalidRequest(f"user {name!r} already exists", param="name") from exc
        user = await self.get_user(name)
        assert user is not None
        return user

    async def get_user(self, name: str) -> User | None:
        def query(conn: Connection) -> User | None:
            row = conn.execute(select(users).where(users.c.name == name)).first()
            return _user(row) if row else None

        return await self._read(query)

    async def list_users(self) -> list[User]:
        def query(conn: Connection) -> list[User]:
            return [_user(r) for r in conn.execute(select(users).order_by(users.c.name))]

        return await self._read(query)

    async def update_user(
        self,
        name: str,
        *,
        daily_limit: int | Unset | None = UNSET,
        model_daily_limit: int | Unset | None = UNSET,
        is_admin: bool | Unset = UNSET,
    ) -> User:
        given = {"daily_limit": daily_limit, "model_daily_limit": model_daily_limit, "is_admin": is_admin}
        changes = {k: v for k, v in given.items() if v is not UNSET}

        def change(conn: Connection) -> User | None:
            if changes:
                conn.execute(update(users).where(users.c.name == name).values(**changes))
            row = conn.execute(select(users).where(users.c.name == name)).first()
            return _user(row) if row else None

        user = await self._write(change)
        if user is None:
            raise NotFound(f"no user named {name!r}", param="name")
        return user

    # ---- tokens ---------------------------------------------------------------------------------

    async def add_token(
        self, user_id: int, *, token_hash: str, prefix: str, label: str, models: tuple[str, ...] | None
    ) -> TokenInfo:
        def insert(conn: Connection) -> TokenInfo:
            result = conn.execute(
                tokens.insert().values(
                    user_id=user_id,
                    token_hash=token_hash,
                    prefix=prefix,
                    label=label,
                    models=list(models) if models is not None else None,
                    created_at=_now(),
                )
            )
            token_id = result.inserted_primary_key[0] if result.inserted_primary_key else None
            return _token(conn.execute(_TOKENS_WITH_USER.where(tokens.c.id == token_id)).one())

        return await self._write(insert)

    async def caller_for(self, token_hash: str) -> Caller | None:
        def query(conn: Connection) -> Caller | None:
            row = conn.execute(_CALLER_BY_HASH, {"token_hash": token_hash}).first()
            return Caller(user=_user(row), token=_token(row)) if row else None

        return await self._read(query)

    async def list_tokens(self, user_name: str | None = None) -> list[TokenInfo]:
        statement = _TOKENS_WITH_USER.order_by(tokens.c.id)
        if user_name is not None:
            statement = statement.where(users.c.name == user_name)

        def query(conn: Connection) -> list[TokenInfo]:
            return [_token(r) for r in conn.execute(statement)]

        return await self._read(query)

    async def revoke_tokens(
        self, *, token_hash: str | None = None, prefix: str | None = None
    ) -> list[TokenInfo]:
        if (token_hash is None) == (prefix is None):
            raise ValueError("give exactly one of token_hash and prefix")
        match = (
            tokens.c.token_hash == token_hash
            if token_hash is not None
            else tokens.c.prefix.startswith(prefix)
        )

        def revoke(conn: Connection) -> list[TokenInfo]:
            ids = [
                r.id
                for r in conn.execute(select(tokens.c.id).where(and_(match, tokens.c.revoked_at.is_(None))))
            ]
            if not ids:
                return []
            conn.execute(update(tokens).where(tokens.c.id.in_(ids)).values(revoked_at=_now()))
            return [_token(r) for r in conn.execute(_TOKENS_WITH_USER.where(tokens.c.id.in_(ids)))]

        return await self._write(revoke)

    async def revoke_token(self, token_id: int) -> TokenInfo | None:
        def revoke(conn: Connection) -> TokenInfo | None:
            conn.execute(
                update(tokens)
                .where(and_(tokens.c.id == token_id, tokens.c.revoked_at.is_(None)))
                .values(revoked_at=_now())
            )
            row = conn.execute(_TOKENS_WITH_USER.where(tokens.c.id == token_id)).first()
            return _token(row) if row else None

        return await self._write(revoke)

    # ---- usage ledger ---------------------------------------------------------------------------

    @staticmethod
    def _build_ledger_upsert(insert: Any) -> Any:
        stmt = insert(usage_daily).values(
            user_id=bindparam("user_id"),
            day=bindparam("day"),
            model=bindparam("model"),
            calls=bindparam("calls"),
            prompt_tokens=bindparam("prompt_tokens"),
            completion_tokens=bindparam("completion_tokens"),
        )
        return stmt.on_conflict_do_update(
            index_elements=[usage_daily.c.user_id, usage_daily.c.day, usage_daily.c.model],
            set_={
                "calls": usage_daily.c.calls + stmt.excluded.calls,
                "prompt_tokens": usage_daily.c.prompt_tokens + stmt.excluded.prompt_tokens,
                "completion_tokens": usage_daily.c.completion_tokens + stmt.excluded.completion_tokens,
            },
        )

    @staticmethod
    def _ledger_row(
        user_id: int, day: date, model: str, *, calls: int, prompt_tokens: int = 0, completion_tokens: int = 0
    ) -> dict[str, Any]:
        return {
            "user_id": user_id,
            "day": day,
            "model": model,
            "calls": calls,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
        }

    async def record_usage(
        self, user_id: int, day: date, model: str, *, calls: int, prompt_tokens: int, completion_tokens: int
    ) -> None:
        params = self._ledger_row(
            user_id, day, model, calls=calls, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )

        def upsert(conn: Connection) -> None:
            conn.execute(self._ledger_upsert, params)

        await self._write(upsert)

    async def usage(self, first_day: date, last_day: date, user_name: str | None = None) -> list[UsageRow]:
        statement = (
            select(usage_daily, users.c.name.label("user_name"))
            .join(users, users.c.id == usage_daily.c.user_id)
            .where(usage_daily.c.day.between(first_day, last_day))
            .order_by(usage_daily.c.day, users.c.name, usage_daily.c.model)
        )
        if user_name is not None:
            statement = statement.where(users.c.name == user_name)

        def query(conn: Connection) -> list[UsageRow]:
            return [
                UsageRow(
                    user_name=r.user_name,
                    day=r.day,
                    model=r.model,
                    calls=r.calls,
                    prompt_tokens=r.prompt_tokens,
                    completion_tokens=r.completion_tokens,
                )
                for r in conn.execute(statement)
            ]

        return await self._read(query)

    # ---- quota counters -------------------------------------------------------------------------

    @staticmethod
    def _build_increment(insert: Any) -> Any:
        stmt = insert(quota_counters).values(
            user_id=bindparam("user_id"),
            day=bindparam("day"),
            scope=bindparam("scope"),
            calls=bindparam("by"),
        )
        return stmt.on_conflict_do_update(
            index_elements=[quota_counters.c.user_id, quota_counters.c.day, quota_counters.c.scope],
            set_={"calls": quota_counters.c.calls + stmt.excluded.calls},
        ).returning(quota_counters.c.calls)

    records_calls = True

    async def reserve(
        self,
        user_id: int,
        day: date,
        model: str,
        *,
        total_limit: int,
        model_limit: int | None,
        ttl_seconds: int,
    ) -> QuotaState:
        # Both counters go up in one transaction, which rolls back if either is over its limit. The
        # first statement is a write, so the database serialises concurrent reservations. An accepted
        # call goes into the ledger in the same transaction: a crash cannot leave the two apart.
        def attempt(conn: Connection) -> QuotaState:
            transaction = conn.begin()
            key = {"user_id": user_id, "day": day, "by": 1}
            total = int(conn.execute(self._increment, {**key, "scope": TOTAL}).scalar_one())
            used = int(conn.execute(self._increment, {**key, "scope": model}).scalar_one())
            limit = None
            if total > total_limit:
                limit = "daily"
            elif model_limit is not None and used > model_limit:
                limit = "model"
            if limit is None:
                conn.execute(self._ledger_upsert, self._ledger_row(user_id, day, model, calls=1))
                transaction.commit()
            else:
                transaction.rollback()
                total, used = total - 1, used - 1
            return QuotaState(limit is None, limit, total, total_limit, used, model_limit)

        return await self._read(attempt)

    async def release(self, user_id: int, day: date, model: str) -> None:
        def give_back(conn: Connection) -> None:
            released = conn.execute(
                update(quota_counters)
                .where(
                    and_(
                        quota_counters.c.user_id == user_id,
                        quota_counters.c.day == day,
                        quota_counters.c.scope.in_([TOTAL, model]),
                        quota_counters.c.calls > 0,
                    )
                )
                .values(calls=quota_counters.c.calls - 1)
            )
            if released.rowcount:
                conn.execute(self._ledger_upsert, self._ledger_row(user_id, day, model, calls=-1))

        await self._write(give_back)

    async def used(self, user_id: int, day: date) -> tuple[int, dict[str, int]]:
        statement = select(quota_counters.c.scope, quota_counters.c.calls).where(
            and_(quota_counters.c.user_id == user_id, quota_counters.c.day == day)
        )

        def query(conn: Connection) -> tuple[int, dict[str, int]]:
            counts = {r.scope: r.calls for r in conn.execute(statement)}
            return counts.pop(TOTAL, 0), counts

        return await self._read(query)
