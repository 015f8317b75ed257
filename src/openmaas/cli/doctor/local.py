"""The checks of this machine: the data dir, the port the server would listen on, the quota day's clock.

Nothing is changed: the data dir gets a probe file that is deleted at once (or, if it does not exist
yet, only its nearest existing parent is looked at), and the port is bound for a moment and released.
"""

from __future__ import annotations

import errno
import shutil
import socket
import tempfile
from datetime import UTC, datetime, tzinfo
from pathlib import Path

import httpx

from openmaas.access.clock import QuotaDay
from openmaas.cli.chat.render import human_duration
from openmaas.cli.doctor.findings import Finding, fail, ok, skip, warn
from openmaas.settings import Settings

LOW_DISK_BYTES = 2 * 1024**3  # room for the models' prepared caches and image outputs
EARLIEST_PLAUSIBLE_YEAR = 2025
WILDCARDS = ("", "0.0.0.0", "::")  # noqa: S104 - only compared with, never bound


def data_dir(path: Path) -> Finding:
    subject = "data dir"
    where = "choose another with --data-dir or OPENMAAS_DATA_DIR"
    if not path.exists():
        parent = next(p for p in path.parents if p.exists())
        problem = _unwritable(parent)
        if problem is None:
            return ok(subject, f"{path} does not exist yet; the first command creates it")
        return fail(subject, f"{path} cannot be created ({parent}: {problem}): {where}")
    problem = _unwritable(path)
    if problem is not None:
        return fail(subject, f"{path}: {problem}: fix it, or {where}")
    free = shutil.disk_usage(path).free
    text = f"{path} is writable; {free / 1024**3:.1f} GB free"
    if free < LOW_DISK_BYTES:
        return warn(subject, f"{text}: models' prepared caches and image outputs may not fit")
    return ok(subject, text)


def _unwritable(folder: Path) -> str | None:
    """Why a file cannot be made in `folder` (tried with a probe file, deleted at once), or None."""
    if not folder.is_dir():
        return "not a folder"
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".openmaas-doctor-"):
            return None
    except OSError as exc:
        return f"not writable ({exc.strerror})"


def port(host: str, number: int) -> Finding:
    subject = "port"
    if number == 0:
        return skip(subject, "port 0: the server picks a free one when it starts")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, number))
        except PermissionError:
            return fail(subject, f"{host}:{number} needs root (ports below 1024): choose --port 8000")
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return _in_use(host, number)
            return fail(subject, f"cannot listen on {host}:{number} ({exc.strerror}): check --host")
    return ok(subject, f"{host}:{number} is free")


def _in_use(host: str, number: int) -> Finding:
    shown = "127.0.0.1" if host in WILDCARDS else host
    url = f"http://[{shown}]:{number}" if ":" in shown else f"http://{shown}:{number}"
    try:
        status = httpx.get(f"{url}/readyz", timeout=3).json().get("status")
    except (httpx.HTTPError, ValueError, AttributeError):
        status = None
    if status in ("ready", "loading"):
        return ok("port", f"{host}:{number}: an OpenMaaS server runs there ({status}); another needs --port")
    return fail(
        "port",
        f"{host}:{number} is in use by another program: stop it, or serve on another port "
        "(openmaas serve --port 8001, or make serve PORT=8001)",
    )


def quota_day(settings: Settings, now: datetime | None = None, here: tzinfo | None = None) -> Finding:
    """The clock is plausible, and when the quota day starts, in the quota's zone and on this machine
    (`here`: its time zone, the local one by default)."""
    subject = "quota day"
    now = now or datetime.now(UTC)
    if now.year < EARLIEST_PLAUSIBLE_YEAR:
        return fail(
            subject,
            f"the system clock says {now:%Y-%m-%d %H:%M} UTC, which cannot be right: set it (NTP); "
            "quota days and signed URLs depend on it",
        )
    day = QuotaDay(settings.zone, lambda: now)
    reset = day.reset_at()
    machine = reset.astimezone(here)
    local = ""
    if machine.utcoffset() != reset.utcoffset():
        local = f" = {machine:%H:%M} on this machine ({machine.tzname()})"
    return ok(
        subject,
        f"today is {day.today()} in {settings.timezone}; quotas reset at 00:00 there{local}, "
        f"in {human_duration(day.seconds_to_reset())} (OPENMAAS_TIMEZONE changes the zone)",
    )
