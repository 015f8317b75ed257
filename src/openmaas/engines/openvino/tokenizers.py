"""The tokenizer of a prepared model, in the two forms the OpenVINO engine needs.

- Hugging Face's (`tokenizer.json`, `tokenizer_config.json`, the chat template): the engine renders
  prompts with the model's chat template and decodes answers with it, the same code as the other local
  engines (`engines/chat_template.py`, `engines/detokenize.py`), so a request renders to the same tokens
  on every engine. A GGUF source carries its tokenizer and template in its metadata; transformers reads
  them from there.
- OpenVINO's (`openvino_tokenizer.xml`, `openvino_detokenizer.xml`), converted from the first by
  `openvino_tokenizers`: the pipeline's structured-output backend (xgrammar) builds its token masks
  from the detokenizer's vocabulary, and nothing else reads it (the engine decodes text itself).

That vocabulary is mended in one way: a token holding a byte that never occurs in UTF-8 text (0xC0,
0xC1, 0xF5 to 0xFF: byte-level BPE vocabularies have a token for each of the 256 bytes) is written as
NUL bytes of the same length. xgrammar 0.1.31 accepts such a byte inside a JSON string as the lead of a
4-byte character and, after it, bytes JSON forbids (seen with a control character), so a constrained
answer could stop being JSON; NUL is refused by every grammar we build, so those tokens are never picked
under a constraint. Unconstrained answers do not use this vocabulary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openmaas.domain.errors import EngineFailure

OPENVINO_TOKENIZER = "openvino_tokenizer.xml"
OPENVINO_DETOKENIZER = "openvino_detokenizer.xml"


def load_source_tokenizer(source: Path) -> Any:
    """The Hugging Face tokenizer of a GGUF file or a model folder."""
    from transformers import AutoTokenizer

    if source.is_file():
        return AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name, local_files_only=True)
    return AutoTokenizer.from_pretrained(source, local_files_only=True)


def save_tokenizers(tokenizer: Any, folder: Path, model_id: str) -> None:
    """Write both forms of `tokenizer` into `folder`."""
    import openvino
    from openvino_tokenizers import convert_tokenizer

    tokenizer.save_pretrained(folder)
    try:
        encoder, decoder = convert_tokenizer(tokenizer, with_detokenizer=True)
    except Exception as error:  # the converter raises many kinds for tokenizers it does not support
        raise EngineFailure(
            f"Model '{model_id}': OpenVINO cannot use its tokenizer ({type(error).__name__}: {error}). "
            'Serve it with the transformers engine (engine = "transformers").'
        ) from error
    _mend_vocabulary(decoder)
    openvino.save_model(encoder, folder / OPENVINO_TOKENIZER)
    openvino.save_model(decoder, folder / OPENVINO_DETOKENIZER)


#: Bytes that occur in no valid UTF-8 text.
_NEVER_UTF8 = frozenset({0xC0, 0xC1, *range(0xF5, 0x100)})


def _mend_vocabulary(decoder: Any) -> None:
    """Blank the tokens that hold a byte no UTF-8 text has (see the module docstring)."""
    import numpy as np
    import openvino

    vocab = next((op for op in decoder.get_ordered_ops() if "VocabDecoder" in op.get_friendly_name()), None)
    if vocab is None:
        return
    begins, ends, chars = (vocab.input_value(i).get_node().get_data() for i in (1, 2, 3))
    chars = np.array(chars, dtype=np.uint8)
    for begin, end in zip(begins, ends, strict=True):
        if any(byte in _NEVER_UTF8 for byte in chars[begin:end]):
            chars[begin:end] = 0
    vocab.input(3).replace_source_output(openvino.op.Constant(chars).output(0))
