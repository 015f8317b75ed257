"""What a chat model does with the settings a request leaves open: its generation defaults.

Three layers, the first that sets a value wins:

1. the registry entry (`default_max_tokens`, `sampling_defaults`): the operator's word;
2. the model's own files (`generation_config.json`), which its engine reads when it loads;
3. the server-wide `default_max_tokens` (max tokens only). Sampling still open after that is the neutral
   choice: temperature 1, top-p 1, no top-k, no repetition penalty.

The chat service fills a request's open settings from these before its engine runs, so a call without
`max_tokens` ends at the default, never when the whole context is full; `GET /v1/models` shows them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: `generation_config.json` keys, and the checks a value must pass to be taken as a default.
_FILE_KEYS: dict[str, tuple[str, type, float, float]] = {
    "max_new_tokens": ("max_tokens", int, 1, float("inf")),
    "temperature": ("temperature", float, 0.0, 2.0),
    "top_p": ("top_p", float, 1e-9, 1.0),
    "top_k": ("top_k", int, 0, float("inf")),
    "repetition_penalty": ("repetition_penalty", float, 1e-9, 2.0),
}


@dataclass(frozen=True, slots=True)
class GenerationDefaults:
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None

    def over(self, fallback: GenerationDefaults) -> GenerationDefaults:
        """These defaults, with `fallback`'s where these leave a value open."""
        values = {
            f.name: mine if (mine := getattr(self, f.name)) is not None else getattr(fallback, f.name)
            for f in fields(self)
        }
        return GenerationDefaults(**values)

    def as_dict(self) -> dict[str, Any]:
        """The values that are set, by name (as `GET /v1/models` shows them)."""
        return {name: value for name, value in asdict(self).items() if value is not None}


def read_generation_config(folder: Path) -> GenerationDefaults:
    """The defaults a model folder's `generation_config.json` recommends (none if it has no such file).

    Like vLLM, only the sampling values are read (`do_sample` is not: a chat server samples unless the
    request says otherwise); values out of range are ignored with a warning.
    """
    path = folder / "generation_config.json"
    if not path.is_file():
        return GenerationDefaults()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        log.warning("ignoring unreadable %s: %s", path, error)
        return GenerationDefaults()
    if not isinstance(data, dict):
        return GenerationDefaults()
    values: dict[str, Any] = {}
    for key, (name, kind, low, high) in _FILE_KEYS.items():
        value = data.get(key)
        if value is None or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if (kind is int and value != int(value)) or not low <= value <= high:
            log.warning("ignoring %s=%r in %s (out of range)", key, value, path)
            continue
        values[name] = kind(value)
    return GenerationDefaults(**values)
