"""`openmaas users …`, `openmaas tokens …` and `openmaas usage`: operate on the store (no server needed),
so they work while a server runs on the same data dir and take effect on its very next request.

Users and tokens go through the account service the admin API uses (`openmaas.services.accounts`), so
the CLI refuses what the API refuses, with the same message; a token's models must be in the registry
(`--models`, or the built-in one).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
from collections.abc import Callable
from datetime import timedelta

from openmaas.access.clock import QuotaDay
from openmaas.access.tokens import PREFIX_LENGTH, is_token, token_hash
from openmaas.catalog import CatalogError, load_catalog
from openmaas.cli.common import settings_from, table
from openmaas.cli.errors import CommandError
from openmaas.domain.errors import OpenMaaSError
from openmaas.services.accounts import AccountService, UserOverview
from openmaas.settings import Settings
from openmaas.store.backends import open_stores
from openmaas.store.base import RecordStore


def run_accounts(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    try:
        return asyncio.run(_dispatch(args, settings))
    except OpenMaaSError as exc:
        raise CommandError(exc.message) from exc


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    async with await open_stores(settings) as stores:
        store, counter = stores.records, stores.counter
        if args.command == "usage":
            return await _usage(args, settings, store)
        accounts = AccountService(
            settings, store, counter, QuotaDay(settings.zone), _served_by_registry(settings)
        )
        if args.command == "users":
            return await _users(args, accounts)
        return await _tokens(args, accounts)


def _served_by_registry(settings: Settings) -> Callable[[str], bool]:
    """Whether the registry serves a model (read the first time a token is scoped to one)."""

    @functools.cache
    def served() -> frozenset[str]:
        try:
            return frozenset(spec.id for spec in load_catalog(settings.models_file).enabled())
        except CatalogError as exc:
            raise CommandError(str(exc)) from exc

    return lambda model_id: model_id in served()


def _limit_text(own: int | None, in_force: int | None) -> str:
    if own is not None:
        return str(own)
    return f"{in_force} (default)" if in_force is not None else "none"


async def _users(args: argparse.Namespace, accounts: AccountService) -> int:
    if args.action == "add":
        row = await accounts.add_user(
            args.name,
            is_admin=args.admin,
            daily_limit=args.daily_limit,
            model_daily_limit=args.model_daily_limit,
        )
        user = row.user
        print(f"added user {user.name}{' (admin)' if user.is_admin else ''}; {_describe_limits(row)}")
        return 0
    if args.action == "set":
        given = vars(args)
        changes = {
            field: given[flag]
            for flag, field in (
                ("daily_limit", "daily_limit"),
                ("model_daily_limit", "model_daily_limit"),
                ("admin", "is_admin"),
            )
            if flag in given
        }
        if not changes:
            raise CommandError(
                "nothing to change: give --daily-limit, --model-daily-limit or --admin/--no-admin"
            )
        row = await accounts.update_user(None, args.name, **changes)
        print(f"updated user {row.user.name}; {_describe_limits(row)}")
        return 0
    rows = [
        [
            row.user.name,
            "yes" if row.user.is_admin else "",
            _limit_text(row.user.daily_limit, row.daily_limit),
            _limit_text(row.user.model_daily_limit, row.model_daily_limit),
            str(row.used_today),
            row.user.created_at.date().isoformat(),
        ]
        for row in await accounts.overview()
    ]
    print(table(rows, ["NAME", "ADMIN", "DAILY LIMIT", "PER-MODEL LIMIT", "USED TODAY", "CREATED"]))
    return 0


def _describe_limits(row: UserOverview) -> str:
    return (
        f"daily limit {_limit_text(row.user.daily_limit, row.daily_limit)}, "
        f"per-model limit {_limit_text(row.user.model_daily_limit, row.model_daily_limit)}"
    )


async def _tokens(args: argparse.Namespace, accounts: AccountService) -> int:
    store = accounts.store
    if args.action == "create":
        user = await store.get_user(args.name)
        if user is None:
            raise CommandError(f"no user named {args.name!r} (add one with `openmaas users add {args.name}`)")
        issued = await accounts.issue_token(user, label=args.label, models=args.models)
        print(issued.text)
        return 0
    if args.action == "revoke":
        text = args.token.strip()
        if is_token(text):
            revoked = await store.revoke_tokens(token_hash=token_hash(text))
        elif text.startswith("ms-") and len(text) >= 7:
            matches = [
                t for t in await store.list_tokens() if t.active and t.prefix.startswith(text[:PREFIX_LENGTH])
            ]
            if len(matches) > 1:
                raise CommandError(
                    f"the prefix {text!r} matches {len(matches)} active tokens; give a longer one"
                )
            revoked = await store.revoke_tokens(prefix=text[:PREFIX_LENGTH])
        else:
            raise CommandError(
                "give a token (ms-…) or its prefix of at least 7 characters (as `tokens list` shows)"
            )
        if not revoked:
            raise CommandError(f"no active token matches {text[:PREFIX_LENGTH]!r}")
        for token_info in revoked:
            print(f"revoked {token_info.prefix}… of user {token_info.user_name}")
        return 0
    if args.name is not None and await store.get_user(args.name) is None:
        raise CommandError(f"no user named {args.name!r}")
    rows = [
        [
            f"{t.prefix}…",
            t.user_name,
            t.label,
            ",".join(t.models) if t.models else "all",
            t.created_at.strftime("%Y-%m-%d %H:%M"),
            "active" if t.active else f"revoked {t.revoked_at:%Y-%m-%d}",
        ]
        for t in await accounts.tokens(args.name)
    ]
    print(table(rows, ["TOKEN", "USER", "LABEL", "MODELS", "CREATED (UTC)", "STATUS"]))
    return 0


async def _usage(args: argparse.Namespace, settings: Settings, store: RecordStore) -> int:
    if args.days < 1:
        raise CommandError("--days must be at least 1")
    if args.name is not None and await store.get_user(args.name) is None:
        raise CommandError(f"no user named {args.name!r}")
    last = QuotaDay(settings.zone).today()
    first = last - timedelta(days=args.days - 1)
    rows = [
        [
            r.day.isoformat(),
            r.user_name,
            r.model,
            str(r.calls),
            str(r.prompt_tokens),
            str(r.completion_tokens),
        ]
        for r in await store.usage(first, last, args.name)
    ]
    print(table(rows, ["DAY", "USER", "MODEL", "CALLS", "PROMPT TOKENS", "COMPLETION TOKENS"]))
    return 0
