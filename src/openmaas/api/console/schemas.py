"""Wire shapes shared by the console's self-service API and the admin API: users, tokens, bodies."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from openmaas.domain.accounts import TokenInfo
from openmaas.domain.errors import InvalidRequest, NotFound
from openmaas.services.accounts import IssuedToken, UserOverview

#: Highest daily limit accepted (the counters are 32-bit integers in the database).
MAX_LIMIT = 1_000_000_000


def timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")


def token_entry(token: TokenInfo) -> dict[str, Any]:
    """A token as listed: its prefix, never its text."""
    return {
        "object": "token",
        "id": token.id,
        "user": token.user_name,
        "prefix": token.prefix,
        "label": token.label,
        "models": list(token.models) if token.models is not None else None,
        "active": token.active,
        "created_at": timestamp(token.created_at),
        "revoked_at": timestamp(token.revoked_at),
    }


def issued_token_entry(issued: IssuedToken) -> dict[str, Any]:
    """A token just created: the only time its text is shown."""
    return {**token_entry(issued.info), "token": issued.text}


def user_entry(row: UserOverview) -> dict[str, Any]:
    """A user: its own limits (None: the server default), the limits in force, and today's calls."""
    user = row.user
    return {
        "object": "user",
        "name": user.name,
        "is_admin": user.is_admin,
        "daily_limit": user.daily_limit,
        "model_daily_limit": user.model_daily_limit,
        "effective_daily_limit": row.daily_limit,
        "effective_model_daily_limit": row.model_daily_limit,
        "used_today": row.used_today,
        "remaining_today": max(0, row.daily_limit - row.used_today),
        "used_today_by_model": row.used_today_by_model,
        "active_tokens": row.active_tokens,
        "created_at": timestamp(user.created_at),
    }


class NewTokenBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    label: StrictStr = ""
    #: The models the token may call; omitted or null: every model the issuer may call.
    models: list[StrictStr] | None = None


Limit = StrictInt | None


class UserChangeBody(BaseModel):
    """Only the fields given change; null sets a limit back to the server default."""

    model_config = ConfigDict(extra="allow")

    daily_limit: Limit = Field(default=None, ge=0, le=MAX_LIMIT)
    model_daily_limit: Limit = Field(default=None, ge=0, le=MAX_LIMIT)
    is_admin: StrictBool | None = None

    def changes(self) -> dict[str, Any]:
        given = {name: getattr(self, name) for name in ("daily_limit", "model_daily_limit", "is_admin")}
        changes = {name: value for name, value in given.items() if name in self.model_fields_set}
        if changes.get("is_admin", False) is None:
            raise InvalidRequest("is_admin must be true or false.", param="is_admin")
        if not changes:
            raise InvalidRequest(
                "Nothing to change: give daily_limit, model_daily_limit or is_admin.", param="daily_limit"
            )
        return changes


class NewUserBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: StrictStr
    is_admin: StrictBool = False
    daily_limit: Limit = Field(default=None, ge=0, le=MAX_LIMIT)
    model_daily_limit: Limit = Field(default=None, ge=0, le=MAX_LIMIT)


def token_id(text: str) -> int:
    """A token id from a path; anything else names no token (404)."""
    if text.isascii() and text.isdecimal() and len(text) <= 18:
        return int(text)
    raise NotFound(f"No token with id {text[:40]!r}.", param="token_id", code="token_not_found")


def day(text: str | None, param: str) -> date | None:
    if text is None or not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidRequest(f"{param} must be a date like 2026-01-31, not {text!r}.", param=param) from exc
