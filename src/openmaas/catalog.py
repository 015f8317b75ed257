"""The model registry: which models this server offers, read from TOML.

The built-in registry (`builtin_models.toml`) holds the embedded defaults. An operator's file, given with
`--models FILE`, extends it (an entry with the same id replaces the built-in one) or, with
`include_builtin = false` at its top, replaces it. Example:

    include_builtin = true

    [[models]]
    id = "Qwen/Qwen2.5-0.5B-Instruct"
    task = "chat"
    engine = "transformers"
    weights = "/srv/models/Qwen2.5-0.5B-Instruct"   # or omit: fetched by ModelScope id
    daily_cap = 500
    [models.options]
    max_batch_size = 16
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from importlib.resources import files
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from openmaas.domain.models import ModelSpec


class CatalogError(ValueError):
    """The registry file is unreadable or invalid; the message names the file and the entry."""


class Catalog:
    """The models on offer, in registry order."""

    def __init__(self, models: Iterable[ModelSpec]) -> None:
        self.models = tuple(models)
        self._by_id = {m.id: m for m in self.models}

    def get(self, model_id: str) -> ModelSpec | None:
        return self._by_id.get(model_id)

    def enabled(self) -> list[ModelSpec]:
        return [m for m in self.models if m.enabled]


def _parse(text: str, source: str) -> tuple[bool, list[ModelSpec]]:
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{source}: not valid TOML: {exc}") from exc
    unknown = set(data) - {"include_builtin", "models"}
    if unknown:
        raise CatalogError(f"{source}: unknown top-level keys {sorted(unknown)}")
    include_builtin = data.get("include_builtin", True)
    if not isinstance(include_builtin, bool):
        raise CatalogError(f"{source}: include_builtin must be true or false")
    entries = data.get("models", [])
    if not isinstance(entries, list):
        raise CatalogError(f"{source}: `models` must be an array of tables ([[models]])")
    specs = []
    for index, entry in enumerate(entries):
        try:
            specs.append(ModelSpec.model_validate(entry))
        except ValidationError as exc:
            name = entry.get("id", f"#{index + 1}") if isinstance(entry, dict) else f"#{index + 1}"
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'entry'}: {e['msg']}" for e in exc.errors()
            )
            raise CatalogError(f"{source}: model {name}: {problems}") from exc
    ids = [s.id for s in specs]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise CatalogError(f"{source}: duplicate model ids {duplicates}")
    return include_builtin, specs


def builtin_catalog() -> Catalog:
    text = (files("openmaas") / "builtin_models.toml").read_text(encoding="utf-8")
    return Catalog(_parse(text, "built-in registry")[1])


def load_catalog(models_file: Path | None) -> Catalog:
    builtin = builtin_catalog()
    if models_file is None:
        return builtin
    try:
        text = models_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"cannot read models file {models_file}: {exc.strerror}") from exc
    include_builtin, specs = _parse(text, str(models_file))
    if not include_builtin:
        return Catalog(specs)
    overrides = {s.id for s in specs}
    return Catalog([*(m for m in builtin.models if m.id not in overrides), *specs])
