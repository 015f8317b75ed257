"""Accounts as the web console, the admin API and the CLI see them: users with their limits and today's
calls, and the tokens issued and revoked for them.

The account rules live here, whichever front end asks: a user name's pattern, a label's length, at most
`MAX_ACTIVE_TOKENS` active tokens a user, a token scoped only to models served here; a token limited to
some models can only issue tokens limited to (a subset of) those models, and nobody can revoke another
user's token through the self-service API (it does not exist for them: 404). The service needs no
engines: what is served is a question it is given (`serves`: the engines in an API process, the
registry in the CLI). `mint_token` is the one place a token is made.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from openmaas.access.clock import QuotaDay
from openmaas.access.metering import user_limits
from openmaas.access.tokens import new_token, token_hash, token_prefix
from openmaas.domain.accounts import Caller, TokenInfo, User
from openmaas.domain.errors import InvalidRequest, NotFound
from openmaas.settings import Settings
from openmaas.store.base import UNSET, QuotaCounter, RecordStore, Unset

MAX_ACTIVE_TOKENS = 100
MAX_LABEL = 200
USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}")


@dataclass(frozen=True, slots=True)
class UserOverview:
    """A user, the limits in force for them, and what they used today."""

    user: User
    #: Calls per day across models in force (the user's own or the server default).
    daily_limit: int
    #: Calls per day on each model in force, None when there is no cap (a model's own cap may be lower).
    model_daily_limit: int | None
    used_today: int
    used_today_by_model: dict[str, int]
    active_tokens: int


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just created: `text` is shown once and never again."""

    text: str
    info: TokenInfo


async def mint_token(
    store: RecordStore, user: User, *, label: str, models: tuple[str, ...] | None
) -> IssuedToken:
    """Make a new token for `user` and store its hash (no rules checked: `AccountService.issue_token`
    checks them first; `openmaas serve --local-token` mints the local user's token directly)."""
    text = new_token()
    info = await store.add_token(
        user.id, token_hash=token_hash(text), prefix=token_prefix(text), label=label, models=models
    )
    return IssuedToken(text, info)


async def user_named(store: RecordStore, name: str) -> User:
    """The user with this name, or 404."""
    user = await store.get_user(name)
    if user is None:
        raise NotFound(f"No user named {name!r}.", param="name", code="user_not_found")
    return user


class AccountService:
    def __init__(
        self,
        settings: Settings,
        store: RecordStore,
        counter: QuotaCounter,
        quota_day: QuotaDay,
        serves: Callable[[str], bool],
    ) -> None:
        self.settings = settings
        self.store = store
        self.counter = counter
        self.quota_day = quota_day
        #: Whether a model id is served here (a token may only be scoped to such models).
        self.serves = serves

    # ---- users ----------------------------------------------------------------------------------

    async def overview(self) -> list[UserOverview]:
        today = self.quota_day.today()
        active: dict[int, int] = {}
        for token in await self.store.list_tokens():
            if token.active:
                active[token.user_id] = active.get(token.user_id, 0) + 1
        rows = []
        for user in await self.store.list_users():
            used, by_model = await self.counter.used(user.id, today)
            rows.append(self._overview(user, used, by_model, active.get(user.id, 0)))
        return rows

    async def user_overview(self, name: str) -> UserOverview:
        user = await user_named(self.store, name)
        used, by_model = await self.counter.used(user.id, self.quota_day.today())
        active = sum(1 for t in await self.store.list_tokens(user.name) if t.active)
        return self._overview(user, used, by_model, active)

    def _overview(self, user: User, used: int, by_model: dict[str, int], active: int) -> UserOverview:
        limits = user_limits(user, self.settings)
        return UserOverview(
            user=user,
            daily_limit=limits.total,
            model_daily_limit=limits.model,
            used_today=used,
            used_today_by_model={model: calls for model, calls in by_model.items() if calls},
            active_tokens=active,
        )

    async def add_user(
        self, name: str, *, is_admin: bool, daily_limit: int | None, model_daily_limit: int | None
    ) -> UserOverview:
        if USER_NAME.fullmatch(name) is None:
            raise InvalidRequest(
                "name: 1 to 64 letters, digits or _ . @ + -, starting with a letter or digit.", param="name"
            )
        await self.store.add_user(
            name, is_admin=is_admin, daily_limit=daily_limit, model_daily_limit=model_daily_limit
        )
        return await self.user_overview(name)

    async def update_user(
        self,
        admin: Caller | None,
        name: str,
        *,
        daily_limit: int | Unset | None = UNSET,
        model_daily_limit: int | Unset | None = UNSET,
        is_admin: bool | Unset = UNSET,
    ) -> UserOverview:
        """Change the given fields. `admin` is who asks through the admin API (nobody takes away their
        own admin rights there), None for the operator's CLI."""
        if is_admin is False and admin is not None and name == admin.user.name:
            raise InvalidRequest(
                "is_admin: you cannot take away your own admin rights (another admin or the CLI can).",
                param="is_admin",
            )
        await self.store.update_user(
            name, daily_limit=daily_limit, model_daily_limit=model_daily_limit, is_admin=is_admin
        )
        return await self.user_overview(name)

    # ---- tokens ---------------------------------------------------------------------------------

    async def issue_token(
        self, user: User, *, label: str, models: Sequence[str] | None, issuer: Caller | None = None
    ) -> IssuedToken:
        """A new token for `user`. With `issuer` (self-service), its own model scope bounds the new one."""
        label = label.strip()
        if len(label) > MAX_LABEL:
            raise InvalidRequest(f"label: at most {MAX_LABEL} characters.", param="label")
        scope = self._scope(models, issuer)
        active = sum(1 for t in await self.store.list_tokens(user.name) if t.active)
        if active >= MAX_ACTIVE_TOKENS:
            raise InvalidRequest(
                f"{user.name!r} already has {active} active tokens, the most allowed; revoke some first.",
                code="too_many_tokens",
            )
        return await mint_token(self.store, user, label=label, models=scope)

    def _scope(self, models: Sequence[str] | None, issuer: Caller | None) -> tuple[str, ...] | None:
        bound = issuer.token.models if issuer is not None else None
        if models is None:
            return bound
        scope = tuple(dict.fromkeys(m.strip() for m in models))
        if not scope or len(scope) > 100:
            raise InvalidRequest(
                "models: give 1 to 100 model ids, or omit it for every model.", param="models"
            )
        for model in scope:
            if not self.serves(model):
                raise InvalidRequest(f"models: {model!r} is not served here.", param="models")
            if bound is not None and model not in bound:
                raise InvalidRequest(
                    f"models: this token may not use {model!r}, so it cannot issue a token that may.",
                    param="models",
                )
        return scope

    async def tokens(self, user_name: str | None = None) -> list[TokenInfo]:
        """Every user's tokens, or one user's (none for an unknown name), oldest first."""
        return await self.store.list_tokens(user_name)

    async def revoke_own(self, caller: Caller, token_id: int) -> TokenInfo:
        """Revoke one of the caller's tokens; another user's token is as unknown as a missing one."""
        if not any(t.id == token_id for t in await self.store.list_tokens(caller.user.name)):
            raise self._no_token(token_id)
        return await self.revoke(token_id)

    async def revoke(self, token_id: int) -> TokenInfo:
        token = await self.store.revoke_token(token_id)
        if token is None:
            raise self._no_token(token_id)
        return token

    @staticmethod
    def _no_token(token_id: int) -> NotFound:
        return NotFound(f"No token with id {token_id}.", param="token_id", code="token_not_found")
