"""vLLM's request outputs as our `ChatEvent` stream.

vLLM yields `RequestOutput`s: with `RequestOutputKind.DELTA` each carries the text and token ids produced
since the previous one (for a whole answer, `FINAL_ONLY` gives one output with everything). vLLM holds
back text that could still become a stop string and drops the stop string itself, so the text can be
relayed as it comes. The last output says why the answer ended:

- `stop` with `stop_reason` None (an end-of-sequence token) or a token id → `Finish("stop")`;
- `stop` with a string `stop_reason` (the stop string that matched) → `Finish("stop", stop_sequence=...)`;
- `length` (max_tokens, or the context is full) → `Finish("length")`;
- `abort` or `error` (the engine gave up on the request) → `EngineFailure`.

Then one `Usage`: the prompt tokens as vLLM counted them (images expanded), the tokens generated.
This module does not import vLLM; it reads the outputs' attributes.
"""

from __future__ import annotations

from typing import Any

from openmaas.domain.chat import ChatEvent, Finish, TextDelta, Usage
from openmaas.domain.errors import EngineFailure


class OutputEvents:
    """Turns one request's outputs into events; feed them in order."""

    def __init__(self, model_id: str, prompt_tokens: int) -> None:
        self._model_id = model_id
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = 0
        self.finished = False

    def feed(self, output: Any) -> list[ChatEvent]:
        completion = output.outputs[0]
        self.completion_tokens += len(completion.token_ids)
        if output.prompt_token_ids:
            self.prompt_tokens = len(output.prompt_token_ids)
        events: list[ChatEvent] = [TextDelta(completion.text)] if completion.text else []
        if output.finished:
            self.finished = True
            events.append(self._finish(completion.finish_reason, completion.stop_reason))
            events.append(Usage(self.prompt_tokens, self.completion_tokens))
        return events

    def _finish(self, reason: str | None, stop_reason: int | str | None) -> Finish:
        if reason == "length":
            return Finish("length")
        if reason == "stop":
            return Finish("stop", stop_sequence=stop_reason if isinstance(stop_reason, str) else None)
        raise EngineFailure(f"vLLM ended the answer of model '{self._model_id}' early ({reason}).")
