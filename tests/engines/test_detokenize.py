"""Incremental detokenization: byte-level BPE and sentencepiece, multi-byte characters split across tokens."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from openmaas.engines.detokenize import IncrementalDetokenizer, fast_decoder
from tests.tiny_models import build_tiny_tokenizer

TEXTS = [
    "Hello, world! The capital of France is Paris.",
    "héllo 世界 🙂 — naïve café, 東京 and emoji 👩‍💻 together",
    "  leading spaces\n\nand\ttabs  ",
]


@pytest.fixture(scope="module")
def bpe():  # a byte-level BPE that never saw Chinese or emoji: they split into byte tokens
    return build_tiny_tokenizer()


def stream_pieces(decode, ids: Sequence[int]) -> list[str]:
    detokenizer = IncrementalDetokenizer(decode)
    pieces = [detokenizer.add(token) for token in ids]
    pieces.append(detokenizer.flush())
    return pieces


@pytest.mark.parametrize("text", TEXTS)
def test_byte_level_bpe_never_emits_broken_characters(bpe, text: str) -> None:
    decode = fast_decoder(bpe)
    ids = bpe.encode(text, add_special_tokens=False)
    assert len(ids) > len(text.split())  # really split below the character level
    pieces = stream_pieces(decode, ids)
    assert "".join(pieces) == text
    assert not any("\ufffd" in piece for piece in pieces)


def test_a_character_split_over_three_tokens_comes_out_whole(bpe) -> None:
    decode = fast_decoder(bpe)
    ids = bpe.encode("世", add_special_tokens=False)
    assert len(ids) == 3
    detokenizer = IncrementalDetokenizer(decode)
    assert [detokenizer.add(token) for token in ids] == ["", "", "世"]


def test_special_tokens_are_skipped(bpe) -> None:
    decode = fast_decoder(bpe)
    ids = [*bpe.encode("hi", add_special_tokens=False), bpe.convert_tokens_to_ids("<|im_end|>")]
    assert "".join(stream_pieces(decode, ids)) == "hi"


def test_incomplete_bytes_at_the_end_are_flushed(bpe) -> None:
    decode = fast_decoder(bpe)
    ids = bpe.encode("ok 世", add_special_tokens=False)[:-1]
    pieces = stream_pieces(decode, ids)
    assert "".join(pieces[:-1]) == "ok "
    assert pieces[-1] == "\ufffd"


def test_long_outputs_keep_a_short_window(bpe) -> None:
    decode = fast_decoder(bpe)
    ids = bpe.encode("the cat sat on the mat " * 60, add_special_tokens=False)
    detokenizer = IncrementalDetokenizer(decode)
    text = "".join(detokenizer.add(token) for token in ids) + detokenizer.flush()
    assert text == "the cat sat on the mat " * 60
    assert len(detokenizer._ids) < 80


@pytest.fixture(scope="module")
def sentencepiece_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spm = pytest.importorskip("sentencepiece")
    folder = tmp_path_factory.mktemp("spm")
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(TEXTS[:1] * 5 + ["A cat sat on the mat.", "Numbers 1 2 3"] * 5))
    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(folder / "m"),
        vocab_size=320,
        byte_fallback=True,
        character_coverage=1.0,
        model_type="bpe",
        minloglevel=2,
    )
    return folder / "m.model"


@pytest.mark.parametrize("text", TEXTS)
def test_sentencepiece_with_byte_fallback(sentencepiece_model: Path, text: str) -> None:
    import sentencepiece

    processor = sentencepiece.SentencePieceProcessor(model_file=str(sentencepiece_model))

    def decode(ids: Sequence[int]) -> str:
        return str(processor.decode(list(ids)))

    ids = processor.encode(text)
    if not text.isascii():  # characters it never saw come as UTF-8 byte pieces
        assert any(processor.id_to_piece(i).startswith("<0x") for i in ids)
    pieces = stream_pieces(decode, ids)
    # sentencepiece normalizes runs of spaces: the reference is decoding all the ids at once
    assert "".join(pieces) == decode(ids)
    assert not any("\ufffd" in piece for piece in pieces)
    assert not pieces[0].startswith(" ")
