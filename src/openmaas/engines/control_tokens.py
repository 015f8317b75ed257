"""Control tokens typed by a user are text, not structure: encoding a rendered chat safely.

A chat template writes control tokens (`<|im_start|>`, `<|im_end|>`, ...) to open and close turns. If a
user types one of those strings into a message, encoding the rendered chat naively turns it into the real
token, and the user can close their own turn and open a forged system turn. So before rendering, every
control token inside the caller's strings (message text, tool definitions, tool-call arguments) is wrapped
in private-use markers; after rendering, the text is split at the markers, the template's own text is
encoded normally and each marked token is encoded as plain text, without its markers.

Newer transformers releases do this inside `apply_chat_template(..., sanitize_control_tokens=True)`;
vLLM pins an older one, so the engines share this implementation and behave the same on both.
Control tokens are the tokenizer's special added tokens and the added tokens the template itself writes.
"""

from __future__ import annotations

import re
from typing import Any

_START, _END = "\ue000", "\ue001"


class ControlTokens:
    """Marks and encodes the control tokens of one tokenizer and chat template."""

    def __init__(self, tokenizer: Any, template: str) -> None:
        self._tokenizer = tokenizer
        tokens = tuple(
            token.content
            for token in tokenizer.added_tokens_decoder.values()
            if token.special or (token.content in template and not token.content.isspace())
        )
        self._tokens_re, self._markers_re = _patterns(tokens)
        self._newline_ids: list[int] = tokenizer.encode("\n", add_special_tokens=False)

    def mark(self, value: Any) -> Any:
        """`value` (a string, or lists and dicts of them) with its control tokens wrapped in markers."""
        if isinstance(value, str):
            value = value.replace(_START, "").replace(_END, "")  # no forged markers
            return self._tokens_re.sub(f"{_START}\\g<0>{_END}", value)
        if isinstance(value, dict):
            return {key: self.mark(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.mark(item) for item in value]
        return value

    def encode(self, rendered: str) -> list[int]:
        """Token ids of a chat rendered from marked inputs: marked tokens as plain text."""
        # Splitting gives [text, marked token, text, ...]; a lone marker (a template's string methods can
        # separate a pair) splits with None and still keeps the text on either side apart.
        pieces = self._markers_re.split(rendered)
        ids: list[int] = self._tokenizer.encode(pieces[0], add_special_tokens=False)
        for index, piece in enumerate(pieces[1:], start=1):
            if piece:
                ids += self._encode_piece(piece, as_text=index % 2 == 1)
        return ids

    def _encode_piece(self, piece: str, *, as_text: bool) -> list[int]:
        def encode(text: str) -> list[int]:
            ids: list[int] = self._tokenizer.encode(
                text, add_special_tokens=False, split_special_tokens=as_text
            )
            return ids

        # Encoded after a newline, which is then dropped, so a SentencePiece tokenizer does not add the
        # prefix space it adds at the start of a string.
        ids = encode("\n" + piece)
        newline = self._newline_ids
        return ids[len(newline) :] if ids[: len(newline)] == newline else encode(piece)


def _patterns(tokens: tuple[str, ...]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    longest_first = sorted(tokens, key=len, reverse=True)
    tokens_re = re.compile("|".join(map(re.escape, longest_first)) or "(?!)")  # (?!) never matches
    markers_re = re.compile(f"{_START}({tokens_re.pattern}){_END}|[{_START}{_END}]")
    return tokens_re, markers_re
