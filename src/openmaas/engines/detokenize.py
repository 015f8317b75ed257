"""Incremental detokenization: token ids in, text deltas out, never a broken character.

Decoding one token at a time is wrong for both tokenizer families used by chat models: a byte-level BPE
token can hold half of a multi-byte UTF-8 character (decoding it alone gives U+FFFD), and a sentencepiece
tokenizer drops or adds the leading space of a word depending on what precedes it. The technique (the one
vLLM uses) decodes a short window of tokens twice: `prefix` = ids[prefix_offset:read_offset] (text
already emitted, kept as context) and `full` = ids[prefix_offset:]. The new text is `full` minus
`prefix`, released only when `full` does not end in U+FFFD (an incomplete character). Then the window
slides: prefix_offset = read_offset, read_offset = len(ids).

The window starts empty (not on the prompt), so the streamed pieces always add up to decoding the answer's
tokens at once, as `tokenizer.decode(answer_ids)` would: a sentencepiece answer starts without the space
its first word token carries, like the output of `transformers` does.

`fast_decoder(tokenizer)` is the `Decode` of a Hugging Face tokenizer the detokenizer calls twice per token:
for a fast (Rust `tokenizers`) tokenizer it calls the Rust decoder directly, skipping the Python layers
of `PreTrainedTokenizer.decode`. Special tokens are skipped and spaces are never "cleaned up", so
decoding a longer window always extends a shorter one. Every local engine shares this module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Decode = Callable[[Sequence[int]], str]
"""Token ids to text (special tokens skipped, no clean-up of spaces)."""

_INCOMPLETE = "\ufffd"


class IncrementalDetokenizer:
    """One per request. `add(token)` returns the text that became final with it (possibly "")."""

    __slots__ = ("_decode", "_ids", "_prefix_offset", "_read_offset")

    def __init__(self, decode: Decode) -> None:
        self._decode = decode
        self._ids: list[int] = []
        self._read_offset = 0
        self._prefix_offset = 0

    def add(self, token: int) -> str:
        self._ids.append(token)
        prefix = self._decode(self._ids[self._prefix_offset : self._read_offset])
        full = self._decode(self._ids[self._prefix_offset :])
        if len(full) <= len(prefix) or full.endswith(_INCOMPLETE):
            return ""
        self._prefix_offset = self._read_offset
        self._read_offset = len(self._ids)
        self._trim()
        return full[len(prefix) :]

    def flush(self) -> str:
        """Text still pending at the end (bytes that never formed a whole character come out as U+FFFD)."""
        prefix = self._decode(self._ids[self._prefix_offset : self._read_offset])
        full = self._decode(self._ids[self._prefix_offset :])
        self._prefix_offset = self._read_offset = len(self._ids)
        return full[len(prefix) :] if len(full) > len(prefix) else ""

    def _trim(self) -> None:
        # Only ids from prefix_offset on are ever decoded again; drop the rest so memory stays flat.
        if self._prefix_offset > 64:
            del self._ids[: self._prefix_offset]
            self._read_offset -= self._prefix_offset
            self._prefix_offset = 0


def fast_decoder(tokenizer: Any) -> Decode:
    backend = getattr(tokenizer, "_tokenizer", None)
    if backend is not None and callable(getattr(backend, "decode", None)):

        def decode_fast(ids: Sequence[int]) -> str:
            return str(backend.decode(list(ids), skip_special_tokens=True))

        return decode_fast

    def decode_slow(ids: Sequence[int]) -> str:
        return str(tokenizer.decode(list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False))

    return decode_slow
