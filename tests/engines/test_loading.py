"""Loading through the real path: GGUF conversion cache, folders, options."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from openmaas.domain.errors import EngineFailure
from openmaas.domain.models import ModelSpec
from openmaas.engines.base import EngineContext
from openmaas.engines.transformers import TransformersChatEngine, loading
from openmaas.weights import WeightsResolver
from tests.engines.helpers import TINY_ID, ask, collect, text_of
from tests.tiny_models import build_tiny_gguf


@pytest.fixture(scope="module")
def tiny_gguf(tiny_chat_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_gguf(tiny_chat_model, tmp_path_factory.mktemp("gguf") / "tiny-llama.F32.gguf")


def engine_on(weights: Path, cache_dir: Path, **options: Any) -> TransformersChatEngine:
    spec = ModelSpec(id=TINY_ID, task="chat", engine="transformers", weights=str(weights), options=options)
    context = EngineContext(cache_dir=cache_dir, resolve_weights=WeightsResolver(cache_dir / "data").resolve)
    return TransformersChatEngine(spec, context)


async def answer(engine: TransformersChatEngine, tokens: int = 12) -> str:
    await engine.start()
    try:
        return text_of(await collect(engine.stream(ask("Hello", max_tokens=tokens))))
    finally:
        await engine.close()


async def test_a_gguf_file_is_converted_once_then_loaded_from_the_cache(
    tiny_gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await answer(engine_on(tiny_gguf, tmp_path))
    caches = [p for p in tmp_path.iterdir() if p.name.startswith("gguf-")]
    assert len(caches) == 1
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in caches[0].iterdir()}
    assert '"bfloat16"' in (caches[0] / "config.json").read_text()
    assert "quantization_config" not in (caches[0] / "config.json").read_text()

    def no_conversion(*args: object) -> None:
        raise AssertionError("converted twice")

    monkeypatch.setattr(loading, "convert_gguf", no_conversion)
    assert await answer(engine_on(tiny_gguf, tmp_path)) == first
    moved = tmp_path / "elsewhere" / tiny_gguf.name  # the cache key is the content, not the path
    moved.parent.mkdir()
    shutil.copy(tiny_gguf, moved)
    assert await answer(engine_on(moved, tmp_path)) == first


async def test_a_crash_during_conversion_leaves_no_half_cache(
    tiny_gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_convert = loading.convert_gguf

    def crash(gguf: Path, folder: Path) -> None:
        (folder / "config.json").write_text("{}")
        raise KeyboardInterrupt  # as if the process were stopped mid-way

    monkeypatch.setattr(loading, "convert_gguf", crash)
    with pytest.raises(KeyboardInterrupt):
        loading.model_folder(tiny_gguf, tmp_path)
    assert [p for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []
    monkeypatch.setattr(loading, "convert_gguf", real_convert)
    folder = loading.model_folder(tiny_gguf, tmp_path)
    assert (folder / "model.safetensors").exists()


def test_a_folder_holding_one_gguf_file_is_that_file(tiny_gguf: Path, tmp_path: Path) -> None:
    folder = tmp_path / "weights"
    folder.mkdir()
    shutil.copy(tiny_gguf, folder / tiny_gguf.name)
    assert loading.model_folder(folder, tmp_path / "cache").name.startswith("gguf-tiny-llama")
    shutil.copy(tiny_gguf, folder / "other.gguf")
    with pytest.raises(EngineFailure, match="several GGUF files"):
        loading.model_folder(folder, tmp_path / "cache")


def test_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(EngineFailure, match="not a model folder"):
        loading.model_folder(tmp_path, tmp_path / "cache")
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(EngineFailure, match=r"not a \.gguf file"):
        loading.model_folder(tmp_path / "weights.bin", tmp_path / "cache")


def test_unknown_options_are_refused_by_name(tiny_chat_model: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_batch"):
        engine_on(tiny_chat_model, tmp_path, max_batch=4)
    with pytest.raises(ValueError, match="dtype"):
        engine_on(tiny_chat_model, tmp_path, dtype="float8")


async def test_context_length_comes_from_the_model_config(tiny_chat_model: Path, tmp_path: Path) -> None:
    engine = engine_on(tiny_chat_model, tmp_path, dtype="float32")
    await engine.start()
    try:
        assert engine.context_length == 512
    finally:
        await engine.close()


async def test_chat_template_option_overrides_the_model_template(
    tiny_chat_model: Path, tmp_path: Path
) -> None:
    template = tmp_path / "plain.jinja"
    template.write_text("{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}assistant:")
    for value in (str(template), template.read_text()):
        engine = engine_on(tiny_chat_model, tmp_path, dtype="float32", chat_template=value)
        await engine.start()
        try:
            tokenizer = engine._loaded.tokenizer  # type: ignore[union-attr]
            expected = tokenizer.encode("user: Hello\nassistant:", add_special_tokens=False)
            assert engine.count_tokens(ask("Hello")) == len(expected)
        finally:
            await engine.close()


@pytest.mark.parametrize(("mode", "layer"), [("int8", "Int8Linear"), ("int4", "Int4Linear")])
async def test_quantization_is_opt_in_and_generates(
    tiny_chat_model: Path, tmp_path: Path, mode: str, layer: str
) -> None:
    engine = engine_on(tiny_chat_model, tmp_path, dtype="bfloat16", quantize=mode)
    await engine.start()
    try:
        model = engine._loaded.model  # type: ignore[union-attr]
        assert type(model.model.layers[0].mlp.down_proj).__name__ == layer
        events = await collect(engine.stream(ask("Hello", max_tokens=8)))
        assert events[-1].completion_tokens == 8  # type: ignore[union-attr]
    finally:
        await engine.close()


@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_quantized_layers_compute_nearly_the_same(mode: str) -> None:
    torch = pytest.importorskip("torch")
    from openmaas.engines.transformers.quantize import Int4Linear, Int8Linear

    torch.manual_seed(0)
    linear = torch.nn.Linear(128, 64, bias=True).to(torch.bfloat16)
    quantized = (Int8Linear if mode == "int8" else Int4Linear)(linear, torch.bfloat16)
    inputs = torch.randn(3, 5, 128, dtype=torch.bfloat16)
    expected = linear(inputs).float()
    error = (quantized(inputs).float() - expected).norm() / expected.norm()
    assert quantized(inputs).shape == (3, 5, 64)
    assert error < (0.02 if mode == "int8" else 0.15)
