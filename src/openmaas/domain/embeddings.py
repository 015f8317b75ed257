"""The internal embedding request and its result, shared by every embedding engine.

An input is either a text or a sequence of the model's own token ids (what its tokenizer gives for a
text, without special tokens: the engine adds those, so `[ids of "hello"]` embeds exactly as `"hello"`).
The wire layer guarantees a request is well-formed (at least one input, no empty input, `dimensions`
positive); the service checks `dimensions` against the engine; the engine checks what needs its
tokenizer (an input longer than the model takes, a token id outside its vocabulary).

Vectors travel as one float32 numpy matrix, row `i` for input `i`: compact, and what both wire
encodings (JSON floats, base64 little-endian float32) are made from. This module does not import numpy;
only engines, which run on the `serve` extra, build the matrices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

EmbeddingInput: TypeAlias = str | tuple[int, ...]


@dataclass(frozen=True, slots=True)
class EmbeddingRequest:
    model: str
    inputs: tuple[EmbeddingInput, ...]
    dimensions: int | None = None
    """Truncate each vector to this many dimensions and re-normalise it (Matryoshka models only)."""


@dataclass(frozen=True, slots=True)
class EmbeddingResult:
    vectors: NDArray[np.float32]
    """Shape `(len(inputs), dimensions)`, C-contiguous float32."""
    prompt_tokens: int
    """Tokens the model read, special tokens included (the usage a call is billed with)."""
