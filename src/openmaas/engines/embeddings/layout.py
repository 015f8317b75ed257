"""Reading a sentence-transformers model folder: which modules turn token states into a sentence vector.

A sentence-transformers folder lists its modules in `modules.json`, in order: a `Transformer` (the
Hugging Face model and tokenizer, with `max_seq_length` and `do_lower_case` in its
`sentence_bert_config.json`), a `Pooling` (how token states become one vector), optional `Dense`
projections, and an optional `Normalize`. This engine runs exactly that pipeline with plain
transformers and torch; a module of any other kind is refused at load with its name. A plain Hugging
Face folder (no `modules.json`) is taken as a transformer followed by mean pooling, not normalised,
unless the registry options say otherwise. `config_sentence_transformers.json` may name a default
prompt, put before every text as sentence-transformers does.

Both the legacy pooling config (`pooling_mode_mean_tokens: true`, ...) and the newer one
(`pooling_mode: "mean"` or a list of modes, concatenated) are understood.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast, get_args

from openmaas.engines.embeddings.options import EmbeddingOptions, PoolingMode

_LEGACY_POOLING_KEYS: dict[str, PoolingMode] = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_lasttoken": "lasttoken",
}


class LayoutError(ValueError):
    """The folder is not a model this engine can run; the message says why."""


@dataclass(frozen=True, slots=True)
class Layout:
    transformer_dir: Path
    pooling: tuple[PoolingMode, ...]
    dense_dirs: tuple[Path, ...]
    normalize: bool
    max_seq_length: int | None
    lower_case: bool
    prompt: str


def read_layout(folder: Path, options: EmbeddingOptions) -> Layout:
    modules_file = folder / "modules.json"
    if not modules_file.is_file():
        return Layout(
            transformer_dir=folder,
            pooling=(options.pooling or "mean",),
            dense_dirs=(),
            normalize=bool(options.normalize),
            max_seq_length=None,
            lower_case=False,
            prompt=options.prompt or "",
        )
    modules = sorted(_json(modules_file), key=lambda module: int(module.get("idx", 0)))
    kinds = [str(module.get("type", "")).rsplit(".", 1)[-1] for module in modules]
    paths = [folder / str(module.get("path", "")) for module in modules]
    unsupported = sorted(set(kinds) - {"Transformer", "Pooling", "Dense", "Normalize"})
    if unsupported:
        raise LayoutError(f"{folder}: sentence-transformers modules {unsupported} are not supported")
    if kinds[:1] != ["Transformer"] or kinds.count("Transformer") != 1:
        raise LayoutError(f"{folder}: modules.json must start with its one Transformer module")
    if kinds.count("Pooling") > 1:
        raise LayoutError(f"{folder}: modules.json has more than one Pooling module")
    transformer = _optional_json(paths[0] / "sentence_bert_config.json")
    pooling = _pooling_modes(paths[kinds.index("Pooling")]) if "Pooling" in kinds else ("mean",)
    return Layout(
        transformer_dir=paths[0],
        pooling=(options.pooling,) if options.pooling else pooling,
        dense_dirs=tuple(path for kind, path in zip(kinds, paths, strict=True) if kind == "Dense"),
        normalize=options.normalize if options.normalize is not None else "Normalize" in kinds,
        max_seq_length=_positive_int(transformer.get("max_seq_length")),
        lower_case=bool(transformer.get("do_lower_case", False)),
        prompt=options.prompt if options.prompt is not None else _default_prompt(folder),
    )


def _pooling_modes(folder: Path) -> tuple[PoolingMode, ...]:
    config = _json(folder / "config.json")
    if "pooling_mode" in config:
        raw = config["pooling_mode"]
        modes = [raw] if isinstance(raw, str) else list(raw)
    else:
        if config.get("pooling_mode_weightedmean_tokens"):
            modes = ["weightedmean"]
        else:
            modes = [mode for key, mode in _LEGACY_POOLING_KEYS.items() if config.get(key)]
    known = get_args(PoolingMode)
    unknown = [mode for mode in modes if mode not in known]
    if unknown:
        raise LayoutError(f"{folder}: pooling modes {unknown} are not supported (supported: {known})")
    return tuple(cast(list[PoolingMode], modes)) or ("mean",)


def _default_prompt(folder: Path) -> str:
    config = _optional_json(folder / "config_sentence_transformers.json")
    name = config.get("default_prompt_name")
    prompts = config.get("prompts") or {}
    return str(prompts.get(name, "")) if name else ""


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


def _optional_json(path: Path) -> dict[str, Any]:
    return _json(path) if path.is_file() else {}


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LayoutError(f"cannot read {path}: {exc}") from exc
