"""The internal chat request and the typed event stream every chat engine produces.

Every wire dialect (OpenAI chat completions, OpenAI Responses, Anthropic) translates into `ChatRequest`
and formats its responses from the same `ChatEvent` stream; an engine never sees a wire schema.

An engine yields, in order: any number of `TextDelta` / `ReasoningDelta` / `ToolCallDelta`, then exactly
one `Finish`, then exactly one `Usage`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

from openmaas.domain.generation import GenerationDefaults

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls"]
_T = TypeVar("_T", int, float)


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image in a message: `url` is an http(s) URL or a data: URI as the client sent it.

    The chat service fetches it safely and fills `data` (the encoded image bytes, checked to decode) and
    `media_type` (`image/png`, ...) before an engine sees it; a data: URI is then cut to its header (the
    bytes are in `data`). `field` names where the image is in the wire request, for error messages.
    """

    url: str
    data: bytes | None = None
    media_type: str | None = None
    field: str | None = None


ContentPart = TextPart | ImagePart


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call the assistant made; `arguments` is the JSON text of the arguments."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: tuple[ContentPart, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None

    @property
    def text(self) -> str:
        """The concatenated text parts (images left out)."""
        return "".join(p.text for p in self.content if isinstance(p, TextPart))

    @property
    def images(self) -> tuple[ImagePart, ...]:
        return tuple(p for p in self.content if isinstance(p, ImagePart))


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """`mode` is auto, none or required; `name` forces one function (mode is then required).
    `parallel` allows several calls in one answer."""

    mode: Literal["auto", "none", "required"] = "auto"
    name: str | None = None
    parallel: bool = True


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    kind: Literal["text", "json_object", "json_schema"] = "text"
    schema: dict[str, Any] | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Reasoning:
    """Thinking controls for reasoning models. `enabled=None` leaves the model's own default."""

    enabled: bool | None = None
    budget_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Sampling:
    """How to pick tokens. Settings left at None take the model's generation defaults (see
    `openmaas.domain.generation`), which the chat service fills in before an engine runs; an engine
    reads None as the neutral value (temperature and top-p 1, no repetition penalty, no token limit but
    the context)."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int = 0
    seed: int | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    #: Multiplicative, over the prompt's and the answer's tokens (1 or None: off), as in vLLM.
    repetition_penalty: float | None = None

    @property
    def greedy(self) -> bool:
        return (self.temperature is not None and self.temperature <= 0.0) or self.top_k == 1

    def with_defaults(self, defaults: GenerationDefaults) -> Sampling:
        """These settings with the model's defaults where the request left them open."""
        return replace(
            self,
            temperature=_first(self.temperature, defaults.temperature),
            top_p=_first(self.top_p, defaults.top_p),
            top_k=self.top_k or defaults.top_k or 0,
            max_tokens=_first(self.max_tokens, defaults.max_tokens),
            repetition_penalty=_first(self.repetition_penalty, defaults.repetition_penalty),
        )


def _first(value: _T | None, default: _T | None) -> _T | None:
    return value if value is not None else default


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    messages: tuple[Message, ...]
    sampling: Sampling = Sampling()
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice = ToolChoice()
    response_format: ResponseFormat = ResponseFormat()
    reasoning: Reasoning = Reasoning()
    n: int = 1
    #: The llguidance grammar the answer must follow (structured output, forced tool calls), set by the
    #: chat service for engines that constrain their own sampling (`ChatEngine.applies_grammars`).
    grammar: str | None = None
    #: False when the client takes the answer whole: an engine may then deliver it in fewer, larger
    #: events (a remote engine asks its upstream for one JSON answer instead of a stream).
    stream: bool = True

    @property
    def has_images(self) -> bool:
        return any(m.images for m in self.messages)


# ---- the event stream ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of a tool call. The first delta of a call carries `id` and `name`; later ones only
    append to `arguments`. `index` numbers the calls within one answer from 0."""

    index: int
    arguments: str = ""
    id: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Finish:
    reason: FinishReason
    stop_sequence: str | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


ChatEvent = TextDelta | ReasoningDelta | ToolCallDelta | Finish | Usage
