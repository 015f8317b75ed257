"""Stored responses in SQL (SQLite or PostgreSQL), mixed into `SqlStore` like the tasks (`tasks.py`).

A conversation is read back in one statement: a recursive common table expression follows
`previous_response_id` from the newest response towards the first, inside the owner's rows and the
retention, so a chain of any length costs one round trip to the database.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import and_, delete, literal, select
from sqlalchemy.engine import Connection

from openmaas.domain.responses import StoredResponse
from openmaas.store.base import ResponseStore
from openmaas.store.schema import responses

T = TypeVar("T")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _record(row: Any) -> StoredResponse:
    return StoredResponse(
        id=row.id,
        user_id=row.user_id,
        model=row.model,
        previous_response_id=row.previous_response_id,
        input_items=list(row.input_items),
        body=dict(row.body),
        created_at=_utc(row.created_at),
    )


def _chain_statement(response_id: str, user_id: int, since: datetime, limit: int) -> Any:
    visible = and_(responses.c.user_id == user_id, responses.c.created_at >= since)
    first = select(responses.c.id, responses.c.previous_response_id, literal(0).label("depth")).where(
        and_(responses.c.id == response_id, visible)
    )
    chain = first.cte("chain", recursive=True)
    earlier = responses.alias("earlier")
    step = (
        select(earlier.c.id, earlier.c.previous_response_id, (chain.c.depth + 1).label("depth"))
        .join(chain, earlier.c.id == chain.c.previous_response_id)
        .where(and_(earlier.c.user_id == user_id, earlier.c.created_at >= since, chain.c.depth < limit - 1))
    )
    chain = chain.union_all(step)
    return select(responses).join(chain, responses.c.id == chain.c.id).order_by(chain.c.depth)


class SqlResponseStore(ResponseStore):
    """Mixed into `SqlStore`, which provides how queries run (`_read`, `_write`)."""

    @abc.abstractmethod
    async def _read(self, query: Callable[..., T], *args: Any) -> T: ...

    @abc.abstractmethod
    async def _write(self, query: Callable[..., T], *args: Any) -> T: ...

    async def add_response(self, response: StoredResponse) -> None:
        values = {
            "id": response.id,
            "user_id": response.user_id,
            "model": response.model,
            "previous_response_id": response.previous_response_id,
            "input_items": response.input_items,
            "body": response.body,
            "created_at": response.created_at,
        }

        def insert(conn: Connection) -> None:
            conn.execute(responses.insert().values(**values))

        await self._write(insert)

    async def get_response(self, response_id: str, user_id: int, *, since: datetime) -> StoredResponse | None:
        statement = select(responses).where(
            and_(
                responses.c.id == response_id, responses.c.user_id == user_id, responses.c.created_at >= since
            )
        )

        def query(conn: Connection) -> StoredResponse | None:
            row = conn.execute(statement).first()
            return _record(row) if row else None

        return await self._read(query)

    async def response_chain(
        self, response_id: str, user_id: int, *, since: datetime, limit: int
    ) -> list[StoredResponse]:
        statement = _chain_statement(response_id, user_id, since, limit)

        def query(conn: Connection) -> list[StoredResponse]:
            return [_record(row) for row in conn.execute(statement)]

        return await self._read(query)

    async def delete_response(self, response_id: str, user_id: int) -> bool:
        statement = delete(responses).where(
            and_(responses.c.id == response_id, responses.c.user_id == user_id)
        )

        def remove(conn: Connection) -> bool:
            return bool(conn.execute(statement).rowcount)

        return await self._write(remove)

    async def delete_responses_created_before(self, cutoff: datetime) -> int:
        statement = delete(responses).where(responses.c.created_at < cutoff)

        def remove(conn: Connection) -> int:
            return int(conn.execute(statement).rowcount)

        return await self._write(remove)
