"""`openmaas doctor`: check a setup and say in plain words what is wrong, before `serve` finds out.

It reads the same settings as `serve` (flags, `OPENMAAS_*`, defaults) and checks, in order: the data dir
(writable, room left), the port (free, or an OpenMaaS server already there), the engines installed,
every model of the registry (engine importable, what it needs installed, weights found), the database
and Redis when configured (reachable, clocks in step), and the quota day (a plausible clock, when the
day starts). One line per finding: `ok`, `warn` (worth a look), `fail` (with what to do), `skip`.
The exit status is 1 when anything failed. Nothing is changed, loaded or downloaded.

Modules: `findings` (a finding), `local` (this machine), `models` (engines and models), `backends`
(PostgreSQL and Redis).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator
from typing import TextIO

from openmaas import __version__
from openmaas.catalog import CatalogError, load_catalog
from openmaas.cli.common import settings_from
from openmaas.cli.doctor import backends, local, models
from openmaas.cli.doctor.findings import Finding, fail, ok
from openmaas.cli.errors import CommandError
from openmaas.engines.factories import default_factories
from openmaas.logs import wants_color
from openmaas.settings import Settings
from openmaas.weights import WeightsResolver

_LABELS = {"ok": ("ok", "32"), "warn": ("warn", "33"), "fail": ("FAIL", "31"), "skip": ("skip", "2")}


def run_doctor(args: argparse.Namespace) -> int:
    out = sys.stdout
    color = wants_color(out)
    try:
        settings = settings_from(args)
    except CommandError as exc:
        show(out, fail("settings", str(exc)), color)
        return 1
    out.write(f"OpenMaaS doctor {__version__} · data dir {settings.data_dir}\n")
    failed = 0
    for finding in findings(settings):
        show(out, finding, color)
        failed += finding.status == "fail"
    if failed:
        out.write(f"{failed} problem{'s' if failed > 1 else ''} found: see FAIL above.\n")
        return 1
    out.write("Nothing wrong found.\n")
    return 0


def findings(settings: Settings) -> Iterator[Finding]:
    """Every check's finding, as each is made (the engine imports take a few seconds)."""
    yield local.data_dir(settings.data_dir)
    yield local.port(settings.host, settings.port)
    factories = default_factories()
    yield models.engines(factories)
    try:
        catalog = load_catalog(settings.models_file)
    except CatalogError as exc:
        yield fail("registry", f"{exc}")
    else:
        source = settings.models_file or "the built-in registry"
        yield ok("registry", f"{source}: {len(catalog.enabled())} models enabled")
        yield from models.models(catalog, factories, WeightsResolver(settings.data_dir))
    yield from asyncio.run(backends.backends(settings))
    yield local.quota_day(settings)


def show(out: TextIO, finding: Finding, color: bool) -> None:
    label, code = _LABELS[finding.status]
    shown = f"\033[{code}m{label:<4}\033[0m" if color else f"{label:<4}"
    out.write(f"  {shown}  {finding.subject}: {finding.text}\n")
    out.flush()
