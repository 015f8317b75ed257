"""Loads the engines of the registry's models and hands them to the services.

Models marked `preload` load one after another in the background when the server starts (the server
answers `/healthz` at once and `/readyz` once they are all ready); others load on their first request.
A request for a model that is still loading gets 503 with `Retry-After`; one whose load failed gets a
500 that says so (details in the log).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from openmaas.catalog import Catalog
from openmaas.domain.errors import EngineFailure, ModelNotReady, NotFound
from openmaas.domain.models import ModelSpec
from openmaas.engines.base import Engine, EngineContext, EngineStats
from openmaas.engines.factories import EngineFactories

log = logging.getLogger(__name__)


def model_cache_dir(data_dir: Path, model_id: str) -> Path:
    return data_dir / "models" / re.sub(r"[^A-Za-z0-9._-]+", "--", model_id)


@dataclass
class _Slot:
    spec: ModelSpec
    engine: Engine | None = None
    load: asyncio.Task[Engine] | None = None
    error: str | None = None


class EngineManager:
    def __init__(
        self,
        catalog: Catalog,
        factories: EngineFactories,
        data_dir: Path,
        resolve_weights: Callable[[ModelSpec], Path],
    ) -> None:
        self.catalog = catalog
        self.factories = factories
        self.data_dir = data_dir
        self.resolve_weights = resolve_weights
        self._slots = {spec.id: _Slot(spec) for spec in catalog.enabled()}
        self._preload: asyncio.Task[None] | None = None

    # ---- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Begin loading the preloaded models in the background."""
        self._preload = asyncio.get_running_loop().create_task(self._preload_all())

    async def _preload_all(self) -> None:
        for slot in self._slots.values():
            if slot.spec.preload:
                try:
                    await self._loaded(slot)
                except Exception:  # noqa: S112 - logged in _load; the server keeps serving the others
                    continue

    async def wait_ready(self) -> None:
        if self._preload is not None:
            await self._preload

    @property
    def ready(self) -> bool:
        return all(s.engine is not None for s in self._slots.values() if s.spec.preload)

    async def close(self) -> None:
        if self._preload is not None:
            self._preload.cancel()
        for slot in self._slots.values():
            if slot.load is not None and not slot.load.done():
                slot.load.cancel()
            if slot.engine is not None:
                try:
                    await slot.engine.close()
                except Exception:
                    log.exception("engine of %s failed to close", slot.spec.id)

    # ---- lookup ---------------------------------------------------------------------------------

    def spec(self, model_id: str) -> ModelSpec:
        """The enabled model with this id, or 404."""
        slot = self._slots.get(model_id)
        if slot is None:
            raise self._unknown(model_id)
        return slot.spec

    @staticmethod
    def _unknown(model_id: str) -> NotFound:
        return NotFound(
            f"The model {model_id!r} does not exist or is not served here.",
            param="model",
            code="model_not_found",
        )

    async def engine(self, model_id: str) -> Engine:
        """The loaded engine of a model, loading it first if it is not preloaded."""
        slot = self._slots.get(model_id)
        if slot is None:
            raise self._unknown(model_id)
        if slot.engine is None:
            if slot.error is not None:
                raise EngineFailure(f"The model {model_id!r} failed to load; see the server log.")
            if slot.spec.preload:
                raise ModelNotReady(model_id)
            return await self._loaded(slot)
        return slot.engine

    def specs(self) -> list[ModelSpec]:
        """Every model served here, in registry order, then the ones attached later."""
        return [slot.spec for slot in self._slots.values()]

    def attach(self, spec: ModelSpec, engine: Engine) -> None:
        """Serve a model with an engine that is already started (a model found on engine workers)."""
        if spec.id in self._slots:
            raise ValueError(f"the model {spec.id!r} is already served here")
        self._slots[spec.id] = _Slot(spec, engine=engine)

    def loaded(self, model_id: str) -> Engine | None:
        """The engine of a model if it has loaded, without loading it."""
        slot = self._slots.get(model_id)
        return slot.engine if slot is not None else None

    def has(self, model_id: str) -> bool:
        return model_id in self._slots

    def stats(self) -> dict[str, EngineStats]:
        return {mid: s.engine.stats() for mid, s in self._slots.items() if s.engine is not None}

    def status(self) -> dict[str, str]:
        """Per model: ready, loading, failed or idle (not loaded yet)."""

        def state(slot: _Slot) -> str:
            if slot.engine is not None:
                return "ready"
            if slot.error is not None:
                return "failed"
            return "loading" if slot.load is not None else "idle"

        return {mid: state(s) for mid, s in self._slots.items()}

    # ---- loading --------------------------------------------------------------------------------

    async def _loaded(self, slot: _Slot) -> Engine:
        if slot.engine is not None:
            return slot.engine
        if slot.load is None:
            slot.load = asyncio.get_running_loop().create_task(self._load(slot))
        return await asyncio.shield(slot.load)

    async def _load(self, slot: _Slot) -> Engine:
        spec = slot.spec
        context = EngineContext(
            cache_dir=model_cache_dir(self.data_dir, spec.id), resolve_weights=self.resolve_weights
        )
        log.info("loading model", extra={"model": spec.id, "engine": spec.engine})
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            engine = self.factories.factory(spec.engine)(spec, context)
            await engine.start()
        except Exception as exc:
            slot.error = str(exc) or type(exc).__name__
            slot.load = None
            log.exception("model failed to load", extra={"model": spec.id})
            raise
        slot.engine = engine
        log.info("model ready", extra={"model": spec.id, "seconds": round(loop.time() - started, 2)})
        return engine
