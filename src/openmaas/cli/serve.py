"""`openmaas serve`: run the API server with uvicorn and print where it listens.

With `--local-token` (what `make serve` uses) it also makes sure an admin user `local` exists and
prints a newly created access token for it, since a token is only ever shown when it is created.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys

import uvicorn

from openmaas.app import create_app
from openmaas.catalog import CatalogError, load_catalog
from openmaas.cli.common import settings_from
from openmaas.cli.errors import CommandError
from openmaas.logs import configure_logging
from openmaas.server import GracefulServer
from openmaas.services.accounts import mint_token
from openmaas.services.container import Services
from openmaas.settings import Settings
from openmaas.store.backends import open_stores

LOCAL_USER = "local"


async def _local_token(settings: Settings) -> str:
    async with await open_stores(settings) as stores:
        store = stores.records
        user = await store.get_user(LOCAL_USER)
        if user is None:
            user = await store.add_user(LOCAL_USER, is_admin=True, daily_limit=None, model_daily_limit=None)
        return (await mint_token(store, user, label="make serve", models=None)).text


def _say(text: str) -> None:
    print(text, flush=True)


async def _announce(server: uvicorn.Server, token: str | None) -> None:
    while not server.started:
        if server.should_exit:
            return
        await asyncio.sleep(0.05)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - only for display
    base = f"http://{shown_host}:{port}"
    _say(f"OpenMaaS {base}  (OpenAI base_url: {base}/v1, Anthropic base_url: {base})")
    _say(f"Web console: {base}/")
    if token is not None:
        _say(f"Access token for user '{LOCAL_USER}': {token}")
    services: Services = server.config.app.state.services  # type: ignore[union-attr]
    await services.engines.wait_ready()
    # Everything built at start-up lives as long as the process: out of the garbage collector's sight,
    # full collections stay short (they showed in the tail latency under load).
    gc.collect()
    gc.freeze()
    status = services.engines.status()
    ready = [m for m, s in status.items() if s == "ready"]
    failed = [m for m, s in status.items() if s == "failed"]
    if ready:
        _say(f"Ready: {', '.join(ready)}")
    if failed:
        _say(f"Failed to load (see the log): {', '.join(failed)}")


async def _serve(server: uvicorn.Server, token: str | None) -> None:
    announce = asyncio.create_task(_announce(server, token))
    try:
        await server.serve()
    finally:
        announce.cancel()


def run_serve(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    configure_logging(settings.log_level, settings.log_format)
    try:
        catalog = load_catalog(settings.models_file)
    except CatalogError as exc:
        raise CommandError(str(exc)) from exc
    token = asyncio.run(_local_token(settings)) if args.local_token else None
    app = create_app(settings, catalog=catalog)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None, access_log=False)
    server = GracefulServer(config, app.state.drain, settings.shutdown_grace)
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(_serve(server, token))
    if not server.started:
        print("openmaas: the server could not start (see the log above)", file=sys.stderr)
        return 1
    return 0
