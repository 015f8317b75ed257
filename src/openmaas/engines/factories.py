"""`EngineFactories`: engine names → the factories that build them; a built-in engine is registered
the same way an outside plugin registers one.

Built-in engines are registered by module path and imported only when a model needs them, so the
gateway never imports torch unless it serves a local model. Plugins register through the
`openmaas.engines` entry-point group, or a model's entry in the model registry names its factory
directly as `package.module:attribute`.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from openmaas.engines.base import EngineFactory

BUILTIN_ENGINES: dict[str, str] = {
    "openvino": "openmaas.engines.openvino:OpenVINOChatEngine",
    "transformers": "openmaas.engines.transformers:TransformersChatEngine",
    "sentence-transformers": "openmaas.engines.embeddings:SentenceTransformersEngine",
    "diffusers": "openmaas.engines.diffusers:DiffusersImageEngine",
    "vllm": "openmaas.engines.vllm:VLLMChatEngine",
    "openai-compatible": "openmaas.engines.remote.openai_compatible:OpenAICompatibleEngine",
}


def _import(path: str) -> EngineFactory:
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise LookupError(f"engine path {path!r} is not of the form package.module:attribute")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise LookupError(f"cannot import engine module {module_name!r}: {exc}") from exc
    try:
        factory: EngineFactory = getattr(module, attribute)
    except AttributeError as exc:
        raise LookupError(f"engine module {module_name!r} has no {attribute!r}") from exc
    return factory


class EngineFactories:
    def __init__(self) -> None:
        self._paths: dict[str, str] = {}
        self._factories: dict[str, EngineFactory] = {}

    def register(self, name: str, factory: EngineFactory | str) -> None:
        """Register a factory, or the `module:attribute` path of one (imported on first use)."""
        if isinstance(factory, str):
            self._paths[name] = factory
        else:
            self._factories[name] = factory

    def names(self) -> list[str]:
        """Every registered engine name, sorted."""
        return sorted({*self._paths, *self._factories})

    def factory(self, name: str) -> EngineFactory:
        if name in self._factories:
            return self._factories[name]
        if name in self._paths:
            factory = _import(self._paths[name])
        elif ":" in name:
            factory = _import(name)
        else:
            raise LookupError(f"unknown engine {name!r}; known engines: {', '.join(self.names())}")
        self._factories[name] = factory
        return factory


def default_factories() -> EngineFactories:
    factories = EngineFactories()
    for name, path in BUILTIN_ENGINES.items():
        factories.register(name, path)
    for entry in entry_points(group="openmaas.engines"):
        factories.register(entry.name, entry.value)
    return factories
