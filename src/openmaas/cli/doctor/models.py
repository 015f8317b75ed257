"""The checks of the models: the engines installed, and for each model of the registry whether it can be
prepared here — its engine imports and what it needs is installed, and its weights can be found.

Engines are imported (as the server would import them, a few seconds for torch), but no model is
loaded and nothing is downloaded: weights that would come from the ModelScope hub are reported as such.
"""

from __future__ import annotations

import importlib.util
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from openmaas.catalog import Catalog
from openmaas.cli.doctor.findings import Finding, fail, ok, warn
from openmaas.domain.errors import EngineFailure
from openmaas.domain.models import ModelSpec
from openmaas.engines.base import Engine
from openmaas.engines.factories import EngineFactories
from openmaas.weights import WeightsResolver

# What to install for a missing module (the extras of pyproject.toml).
_INSTALL = {
    "vllm": "pip install 'openmaas[vllm]' in a virtualenv of its own (make install-vllm builds one)",
    "aiohttp": "pip install 'openmaas[scale]'",
    "asyncpg": "pip install 'openmaas[scale]'",
    "redis": "pip install 'openmaas[scale]'",
    "modelscope": "pip install 'openmaas[hub]'",
}
_INSTALL_SERVE = "pip install 'openmaas[serve]' (make install does)"


def install_hint(module: str) -> str:
    return _INSTALL.get(module.partition(".")[0], _INSTALL_SERVE)


@dataclass(frozen=True)
class Missing:
    """Why an engine cannot run here, and what to install (when known)."""

    why: str
    install: str | None


def engine_problem(factories: EngineFactories, name: str) -> Missing | None:
    """Why the engine cannot run here (not importable, or a module it needs is missing), or None."""
    try:
        with _quiet():
            factory = factories.factory(name)
    except LookupError as exc:
        missing = getattr(exc.__cause__, "name", None)
        return Missing(str(exc), install_hint(missing) if isinstance(missing, str) else None)
    requires = getattr(factory, "requires", ())
    absent = [module for module in requires if importlib.util.find_spec(module) is None]
    if absent:
        return Missing(f"needs {', '.join(absent)}, which is not installed", install_hint(absent[0]))
    return None


@contextmanager
def _quiet() -> Iterator[None]:
    """Libraries' import-time warnings (transformers, diffusers) are not the doctor's findings."""
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(logging.NOTSET)


def engines(factories: EngineFactories) -> Finding:
    """Which registered engines can run here (one line; only the registry's models make it a failure)."""
    problems = {name: engine_problem(factories, name) for name in factories.names()}
    usable = [name for name, problem in problems.items() if problem is None]
    missing = [f"{name} ({p.install or p.why})" for name, p in problems.items() if p is not None]
    text = f"installed: {', '.join(usable) or 'none'}"
    return ok("engines", text + (f"; not installed: {', '.join(missing)}" if missing else ""))


def models(catalog: Catalog, factories: EngineFactories, resolver: WeightsResolver) -> Iterator[Finding]:
    enabled = catalog.enabled()
    if not enabled:
        yield warn("models", "the registry enables no model: the server would serve nothing")
    for spec in enabled:
        yield model(spec, factories, resolver)


def model(spec: ModelSpec, factories: EngineFactories, resolver: WeightsResolver) -> Finding:
    subject = f"model {spec.id}"
    engine = f"{spec.task}, {spec.engine} engine"
    problem = engine_problem(factories, spec.engine)
    if problem is not None:
        return fail(subject, f"{engine}: {problem.why}" + (f": {problem.install}" if problem.install else ""))
    factory = factories.factory(spec.engine)
    if not (isinstance(factory, type) and issubclass(factory, Engine)):
        return ok(subject, f"{engine} (a plugin factory: its weights are its own business)")
    try:
        if not factory.reads_weights(spec):
            return ok(subject, f"{engine}; needs no weights on this machine")
        found = resolver.locate(spec)
    except (EngineFailure, ValueError) as exc:
        return fail(subject, f"{engine}: {getattr(exc, 'message', exc)}")
    if found is not None:
        return ok(subject, f"{engine}; weights at {found}")
    if importlib.util.find_spec("modelscope") is None:
        return fail(
            subject,
            f"{engine}: the weights of {spec.weights_location} are not on this machine and the ModelScope "
            f"hub client is not installed ({install_hint('modelscope')}), or set `weights` to a local folder",
        )
    return warn(
        subject,
        f"{engine}: {spec.weights_location} will be downloaded from the ModelScope hub at the first start "
        "(this machine must reach it)",
    )
