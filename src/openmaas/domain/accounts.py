"""Users, their access tokens, and what they used: the records the store keeps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    is_admin: bool
    #: Calls per day across all models; None means the server's default.
    daily_limit: int | None
    #: Calls per day on each model; None means the server's default (which may be no cap).
    model_daily_limit: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as the store knows it: never the token text, only a short prefix to recognise it."""

    id: int
    user_id: int
    user_name: str
    prefix: str
    label: str
    #: The models this token may call; None means every model.
    models: tuple[str, ...] | None
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the authenticated user and the token they used."""

    user: User
    token: TokenInfo

    def may_use(self, model_id: str) -> bool:
        return self.token.models is None or model_id in self.token.models


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One user's use of one model on one quota day."""

    user_name: str
    day: date
    model: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
