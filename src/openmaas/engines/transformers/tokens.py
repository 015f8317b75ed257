"""The token-ids-to-text function the detokenizer calls twice per token per request.

For a fast (Rust `tokenizers`) tokenizer it calls the Rust decoder directly, skipping the Python layers
of `PreTrainedTokenizer.decode`; otherwise it falls back to `decode` itself. Special tokens are skipped
and spaces are never "cleaned up", so decoding a longer window always extends a shorter one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openmaas.engines.transformers.detokenize import Decode


def fast_decoder(tokenizer: Any) -> Decode:
    backend = getattr(tokenizer, "_tokenizer", None)
    if backend is not None and callable(getattr(backend, "decode", None)):

        def decode_fast(ids: Sequence[int]) -> str:
            return str(backend.decode(list(ids), skip_special_tokens=True))

        return decode_fast

    def decode_slow(ids: Sequence[int]) -> str:
        return str(tokenizer.decode(list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False))

    return decode_slow
