"""The base of every engine's `options` table: strict, and failing at start-up with a message that
names the model, the engine and the offending option."""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError


class EngineOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def parse(cls, model_id: str, engine: str, options: dict[str, Any]) -> Self:
        """Validate a registry entry's options, or raise `ValueError` saying what is wrong where."""
        try:
            return cls.model_validate(options)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in item['loc']) or 'options'}: {item['msg']}"
                for item in error.errors()
            )
            raise ValueError(
                f"invalid options for model '{model_id}' ({engine} engine): {problems}"
            ) from None
