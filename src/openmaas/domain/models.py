"""What a served model is: one entry of the model registry file.

The registry is strict (unknown keys are an error naming the key) because a typo in an operator's file
should fail at start-up, not silently serve the wrong thing.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from openmaas.domain.generation import GenerationDefaults

Task = Literal["chat", "vision", "embedding", "image"]
#: The tasks of models that chat (a vision model chats about pictures too).
CHAT_TASKS: tuple[Task, ...] = ("chat", "vision")


class SamplingDefaults(BaseModel):
    """What a request that does not say gets (a model card's recommended settings)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    repetition_penalty: float | None = Field(
        default=None,
        gt=0,
        le=2,
        description="Above 1 discourages repeating the prompt's and answer's tokens.",
    )


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="ModelScope-style `Org/Name`; what clients send as `model`.")
    task: Task
    engine: str = Field(description="A registered engine name, or `package.module:factory` for a plugin.")
    weights: str | None = Field(
        default=None,
        description="A local folder, `package:<module>/<path>` inside an installed package, or a "
        "ModelScope model id (the default is the model id itself).",
    )
    enabled: bool = Field(default=True, description="Listed and served through the API.")
    preload: bool = Field(default=True, description="Load at start-up; /readyz waits for it.")
    owned_by: str | None = None
    daily_cap: int | None = Field(default=None, ge=0, description="Calls per user per day on this model.")
    context_length: int | None = Field(default=None, gt=0)
    default_max_tokens: int | None = Field(
        default=None,
        gt=0,
        description="Where an answer ends when the request sets no max_tokens (default: the model's "
        "generation_config.json, else the server-wide default).",
    )
    capabilities: tuple[str, ...] = ()
    reasoning_parser: Literal["think", "think-open"] | None = Field(
        default=None,
        description="How the model marks its thinking: `think` (<think>…</think>), `think-open` (the "
        "template opens <think> in the prompt, as DeepSeek-R1's does).",
    )
    tool_parser: Literal["hermes", "json"] | None = Field(
        default=None,
        description="How the model writes tool calls: `hermes` (<tool_call>{…}</tool_call>, Qwen) or "
        "`json` (a bare JSON object or list, Llama 3).",
    )
    description: str | None = None
    options: dict[str, Any] = Field(default_factory=dict, description="Engine-specific settings.")
    sampling_defaults: SamplingDefaults | None = Field(
        default=None,
        description="temperature / top_p / top_k / repetition_penalty for requests that leave them out "
        "(over the model's own generation_config.json).",
    )

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not value or value.strip() != value or " " in value:
            raise ValueError("model id must be non-empty without spaces")
        return value

    @property
    def generation_defaults(self) -> GenerationDefaults:
        """What the registry entry sets for requests that leave settings open."""
        sampling = self.sampling_defaults or SamplingDefaults()
        return GenerationDefaults(
            max_tokens=self.default_max_tokens,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            top_k=sampling.top_k,
            repetition_penalty=sampling.repetition_penalty,
        )

    @property
    def owner(self) -> str:
        return self.owned_by or (self.id.split("/", 1)[0] if "/" in self.id else "openmaas")

    @property
    def all_capabilities(self) -> tuple[str, ...]:
        """Declared capabilities plus those the task and the output parsers imply."""
        derived = (
            ("vision",) * (self.task == "vision")
            + ("tools",) * (self.tool_parser is not None)
            + ("reasoning",) * (self.reasoning_parser is not None)
        )
        return tuple(dict.fromkeys((*self.capabilities, *derived)))

    @property
    def accepts_images(self) -> bool:
        """Image inputs in chat messages: a `vision` model, or a chat model declaring `vision` (an
        upstream serving a vision model, say)."""
        return "vision" in self.all_capabilities

    @property
    def weights_location(self) -> str:
        return self.weights or self.id
