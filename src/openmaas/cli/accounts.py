"""`openmaas users …`, `openmaas tokens …` and `openmaas usage`: operate on the store directly, so they
work while a server runs on the same data dir and take effect on its very next request."""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta

from openmaas.access.clock import QuotaDay
from openmaas.access.tokens import PREFIX_LENGTH, is_token, new_token, token_hash, token_prefix
from openmaas.cli.common import opened_store, settings_from, table
from openmaas.cli.errors import CommandError
from openmaas.domain.accounts import User
from openmaas.domain.errors import OpenMaaSError
from openmaas.settings import Settings
from openmaas.store.base import QuotaCounter, RecordStore


def run_accounts(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    try:
        return asyncio.run(_dispatch(args, settings))
    except OpenMaaSError as exc:
        raise CommandError(exc.message) from exc


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    async with opened_store(settings) as (store, counter):
        if args.command == "usage":
            return await _usage(args, settings, store)
        if args.command == "users":
            return await _users(args, settings, store, counter)
        return await _tokens(args, store)


def _limit_text(value: int | None, default: int | None) -> str:
    if value is not None:
        return str(value)
    return f"{default} (default)" if default is not None else "none"


async def _users(
    args: argparse.Namespace, settings: Settings, store: RecordStore, counter: QuotaCounter
) -> int:
    if args.action == "add":
        user = await store.add_user(
            args.name,
            is_admin=args.admin,
            daily_limit=args.daily_limit,
            model_daily_limit=args.model_daily_limit,
        )
        print(
            f"added user {user.name}{' (admin)' if user.is_admin else ''}; {_describe_limits(user, settings)}"
        )
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
        user = await store.update_user(args.name, **changes)
        print(f"updated user {user.name}; {_describe_limits(user, settings)}")
        return 0
    today = QuotaDay(settings.zone).today()
    rows = []
    for user in await store.list_users():
        used, _ = await counter.used(user.id, today)
        rows.append(
            [
                user.name,
                "yes" if user.is_admin else "",
                _limit_text(user.daily_limit, settings.default_daily_limit),
                _limit_text(user.model_daily_limit, settings.default_model_daily_limit),
                str(used),
                user.created_at.date().isoformat(),
            ]
        )
    print(table(rows, ["NAME", "ADMIN", "DAILY LIMIT", "PER-MODEL LIMIT", "USED TODAY", "CREATED"]))
    return 0


def _describe_limits(user: User, settings: Settings) -> str:
    return (
        f"daily limit {_limit_text(user.daily_limit, settings.default_daily_limit)}, "
        f"per-model limit {_limit_text(user.model_daily_limit, settings.default_model_daily_limit)}"
    )


async def _tokens(args: argparse.Namespace, store: RecordStore) -> int:
    if args.action == "create":
        user = await store.get_user(args.name)
        if user is None:
            raise CommandError(f"no user named {args.name!r} (add one with `openmaas users add {args.name}`)")
        token = new_token()
        models = tuple(args.models) if args.models else None
        await store.add_token(
            user.id, token_hash=token_hash(token), prefix=token_prefix(token), label=args.label, models=models
        )
        print(token)
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
        for t in await store.list_tokens(args.name)
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
