"""`openmaas models list`: the registry this server would serve, without loading anything."""

from __future__ import annotations

import argparse

from openmaas.catalog import CatalogError, load_catalog
from openmaas.cli.common import settings_from, table
from openmaas.cli.errors import CommandError


def run_models(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    try:
        catalog = load_catalog(settings.models_file)
    except CatalogError as exc:
        raise CommandError(str(exc)) from exc
    rows = [
        [
            m.id,
            m.task,
            m.engine,
            "yes" if m.enabled else "no",
            str(m.daily_cap) if m.daily_cap is not None else "-",
            ",".join(m.capabilities) or "-",
            m.weights_location,
        ]
        for m in catalog.models
    ]
    print(table(rows, ["ID", "TASK", "ENGINE", "ENABLED", "DAILY CAP", "CAPABILITIES", "WEIGHTS"]))
    return 0
