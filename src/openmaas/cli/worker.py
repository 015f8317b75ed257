"""`openmaas worker --models FILE`: run model engines for the API tier, in this process.

The worker loads the registry file's models as the embedded server would, serves them over the internal
API on `--host`/`--port`, and registers in Redis (`--redis-url`) with a heartbeat, so the API processes
that share that Redis start routing to it within one heartbeat. It needs `OPENMAAS_WORKER_SECRET`, the
secret the API processes use too. Image models in the registry take tasks from the shared queue
instead, which needs PostgreSQL (`--database-url`) and object storage (`OPENMAAS_S3_BUCKET`).
"""

from __future__ import annotations

import argparse

import uvicorn

from openmaas.catalog import CatalogError, load_catalog
from openmaas.cli.common import settings_from
from openmaas.cli.errors import CommandError
from openmaas.logs import configure_logging


def run_worker(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if settings.models_file is None:
        raise CommandError("a worker needs --models FILE: the registry of the models it runs")
    if settings.worker_secret is None:
        raise CommandError("set OPENMAAS_WORKER_SECRET (16+ characters), the same as the API processes'")
    if settings.redis_url is None:
        raise CommandError("a worker registers in Redis: give --redis-url (or OPENMAAS_REDIS_URL)")
    configure_logging(settings.log_level, settings.log_format)
    try:
        catalog = load_catalog(settings.models_file)
    except CatalogError as exc:
        raise CommandError(str(exc)) from exc
    image_models = [m.id for m in catalog.enabled() if m.task == "image"]
    if image_models:
        from openmaas.workers.image_tasks import image_worker_problem

        problem = image_worker_problem(settings, image_models)
        if problem is not None:
            raise CommandError(problem)
    from openmaas.workers.app import create_worker_app, worker_url

    app = create_worker_app(settings, catalog=catalog)
    print(
        f"OpenMaaS engine worker {worker_url(settings)}: {', '.join(m.id for m in catalog.enabled())}",
        flush=True,
    )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
    )
    return 0
