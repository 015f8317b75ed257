"""Reading sentence-transformers folders, and running layouts other than the default model's on a tiny
random-weight BERT built here (CLS pooling, a Dense projection, a prompt, lower-casing, no modules.json)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertModel, BertTokenizer

from openmaas.domain.embeddings import EmbeddingRequest
from openmaas.domain.models import ModelSpec
from openmaas.engines.base import EngineContext
from openmaas.engines.embeddings import SentenceTransformersEngine
from openmaas.engines.embeddings.layout import LayoutError, read_layout
from openmaas.engines.embeddings.options import EmbeddingOptions

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "the", "cat", "query", ":"]
DEFAULTS = EmbeddingOptions()


def write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def tiny_bert(folder: Path) -> BertModel:
    """A 1-layer BERT with a case-sensitive tokenizer, saved as a plain Hugging Face folder."""
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(WORDS),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    model = BertModel(config).eval()
    model.save_pretrained(folder)
    BertTokenizer(vocab={w: i for i, w in enumerate(WORDS)}, do_lower_case=False).save_pretrained(folder)
    return model


def sentence_transformers_folder(folder: Path) -> tuple[BertModel, torch.nn.Linear]:
    """CLS pooling → Dense(32→16, tanh) → Normalize; lower-cased; default prompt "query: "."""
    model = tiny_bert(folder)
    modules = [
        ("", "Transformer"),
        ("1_Pooling", "Pooling"),
        ("2_Dense", "Dense"),
        ("3_Normalize", "Normalize"),
    ]
    write_json(
        folder / "modules.json",
        [
            {"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.models.{kind}"}
            for i, (path, kind) in enumerate(modules)
        ],
    )
    write_json(folder / "sentence_bert_config.json", {"max_seq_length": 12, "do_lower_case": True})
    write_json(
        folder / "config_sentence_transformers.json",
        {"prompts": {"q": "query: "}, "default_prompt_name": "q"},
    )
    write_json(folder / "1_Pooling" / "config.json", {"embedding_dimension": 32, "pooling_mode": "cls"})
    linear = torch.nn.Linear(32, 16)
    write_json(
        folder / "2_Dense" / "config.json",
        {
            "in_features": 32,
            "out_features": 16,
            "bias": True,
            "activation_function": "torch.nn.modules.activation.Tanh",
        },
    )
    save_file(
        {f"linear.{k}": v.contiguous() for k, v in linear.state_dict().items()},
        folder / "2_Dense" / "model.safetensors",
    )
    (folder / "3_Normalize").mkdir()
    return model, linear


async def embed_with(folder: Path, texts: tuple[str, ...], **options: object) -> tuple[np.ndarray, int, int]:
    spec = ModelSpec(id="test/tiny", task="embedding", engine="sentence-transformers", options=options)
    engine = SentenceTransformersEngine(
        spec, EngineContext(cache_dir=folder, resolve_weights=lambda _: folder)
    )
    await engine.start()
    try:
        result = await engine.embed(EmbeddingRequest(model=spec.id, inputs=texts))
        return result.vectors, engine.dimension, engine.max_input_tokens
    finally:
        await engine.close()


def states(model: BertModel, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids]))[0][0]


async def test_cls_pooling_dense_normalise_prompt_and_lower_case(tmp_path: Path) -> None:
    model, linear = sentence_transformers_folder(tmp_path)
    vectors, dimension, limit = await embed_with(tmp_path, ("Hello World",))
    assert (dimension, limit) == (16, 12)
    ids = [2, WORDS.index("query"), WORDS.index(":"), WORDS.index("hello"), WORDS.index("world"), 3]
    with torch.no_grad():
        expected = torch.nn.functional.normalize(torch.tanh(linear(states(model, ids)[0])), dim=-1)
    np.testing.assert_allclose(vectors[0], expected.numpy(), atol=1e-5)


async def test_a_plain_folder_takes_the_pooling_options(tmp_path: Path) -> None:
    model = tiny_bert(tmp_path)
    vectors, dimension, limit = await embed_with(
        tmp_path, ("hello cat", "the"), pooling="max", normalize=True
    )
    assert (dimension, limit) == (32, 64)  # max_position_embeddings
    expected = states(model, [2, 5, 8, 3]).max(dim=0).values
    np.testing.assert_allclose(vectors[0], (expected / expected.norm()).numpy(), atol=1e-5)
    # Padded shorter row: padding must not leak into the pooled value.
    expected_short = states(model, [2, 7, 3]).max(dim=0).values
    np.testing.assert_allclose(vectors[1], (expected_short / expected_short.norm()).numpy(), atol=1e-5)


def test_legacy_pooling_flags_are_read_in_sentence_transformers_order(tmp_path: Path) -> None:
    write_json(
        tmp_path / "modules.json",
        [
            {"idx": 0, "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        ],
    )
    write_json(
        tmp_path / "1_Pooling" / "config.json",
        {"word_embedding_dimension": 8, "pooling_mode_mean_tokens": True, "pooling_mode_cls_token": True},
    )
    layout = read_layout(tmp_path, DEFAULTS)
    assert layout.pooling == ("cls", "mean")
    assert layout.normalize is False and layout.dense_dirs == () and layout.prompt == ""
    assert read_layout(tmp_path, EmbeddingOptions(pooling="lasttoken", normalize=True)).pooling == (
        "lasttoken",
    )


@pytest.mark.parametrize(
    ("modules", "pooling", "message"),
    [
        (
            ["Transformer", "Pooling", "LayerNorm"],
            {"pooling_mode": "mean"},
            r"\['LayerNorm'\] are not supported",
        ),
        (["Pooling", "Transformer"], {"pooling_mode": "mean"}, "must start with its one Transformer"),
        (["Transformer", "Pooling"], {"pooling_mode": "weightedmean"}, r"pooling modes \['weightedmean'\]"),
    ],
)
def test_layouts_this_engine_cannot_run_are_refused(
    tmp_path: Path, modules: list[str], pooling: dict[str, object], message: str
) -> None:
    paths = {"Transformer": "", "Pooling": "1_Pooling", "LayerNorm": "2_LayerNorm"}
    write_json(
        tmp_path / "modules.json",
        [
            {"idx": i, "path": paths[kind], "type": f"sentence_transformers.models.{kind}"}
            for i, kind in enumerate(modules)
        ],
    )
    write_json(tmp_path / "1_Pooling" / "config.json", pooling)
    with pytest.raises(LayoutError, match=message):
        read_layout(tmp_path, DEFAULTS)


def test_unknown_options_fail_naming_the_option() -> None:
    with pytest.raises(ValueError, match="max_batch: Extra inputs"):
        EmbeddingOptions.parse("test/x", "sentence-transformers", {"max_batch": 4})
