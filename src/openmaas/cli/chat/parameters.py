"""The generation parameters a chat session sends with every question: from flags and from `/set`.

A parameter that is not set is not sent, so the server's defaults (the model's) apply. Names take the
OpenAI spelling (`max_tokens`, `top_p`); `max-tokens` and Ollama's names (`num_predict`) work too.
`/set NAME default` unsets one. Values are checked here with the ranges the API allows, so a typo gets
a one-line answer at once instead of a 400 on the next question.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

Value = int | float
UNSET_WORDS = ("default", "none", "unset")


class ParameterError(ValueError):
    """A parameter name or value that cannot be used; the message says which and why."""


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ParameterError(f"expected a whole number, got {text!r}") from None


def _real(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ParameterError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise ParameterError(f"expected a finite number, got {text!r}")
    return value


def _max_tokens(text: str) -> Value:
    value = _whole(text)
    if value < 1:
        raise ParameterError("max_tokens must be 1 or more")
    return value


def _temperature(text: str) -> Value:
    value = _real(text)
    if not 0 <= value <= 2:
        raise ParameterError("temperature must be between 0 and 2")
    return value


def _top_p(text: str) -> Value:
    value = _real(text)
    if not 0 < value <= 1:
        raise ParameterError("top_p must be above 0 and at most 1")
    return value


def _seed(text: str) -> Value:
    value = _whole(text)
    if not -(2**63) <= value < 2**64:
        raise ParameterError("seed must fit in 64 bits")
    return value


@dataclass(frozen=True)
class Parameter:
    parse: Callable[[str], Value]
    help: str


PARAMETERS: dict[str, Parameter] = {
    "max_tokens": Parameter(_max_tokens, "most tokens in an answer (cuts a rambling model short)"),
    "temperature": Parameter(_temperature, "0 to 2: lower is more focused, higher more varied"),
    "top_p": Parameter(_top_p, "above 0 to 1: sample only from the most likely tokens that add up to it"),
    "seed": Parameter(_seed, "a whole number: the same seed and question give the same answer"),
}
ALIASES = {"num_predict": "max_tokens", "max_completion_tokens": "max_tokens"}


def canonical(name: str) -> str:
    """The parameter's OpenAI name, from any accepted spelling."""
    key = name.strip().lower().replace("-", "_")
    key = ALIASES.get(key, key)
    if key not in PARAMETERS:
        raise ParameterError(f"no parameter {name!r}; there are: {', '.join(PARAMETERS)}")
    return key


@dataclass
class Parameters:
    values: dict[str, Value] = field(default_factory=dict)

    @classmethod
    def given(cls, texts: Mapping[str, str | None]) -> Parameters:
        """From flags: name → text, None for a flag not given."""
        parameters = cls()
        for name, text in texts.items():
            if text is not None:
                parameters.set(name, text)
        return parameters

    def set(self, name: str, text: str) -> str:
        """Set (or with `default`, unset) a parameter; its OpenAI name."""
        key = canonical(name)
        if text.strip().lower() in UNSET_WORDS:
            self.values.pop(key, None)
        else:
            self.values[key] = PARAMETERS[key].parse(text.strip())
        return key

    def describe(self) -> str:
        """`max_tokens=256 temperature=0.7`, or what applies when none is set."""
        if not self.values:
            return "none set: the server's defaults apply"
        return " ".join(f"{key}={self.values[key]}" for key in PARAMETERS if key in self.values)
