"""What every wire schema shares: leniency. Clients send fields we do not use (OpenAI's SDK sends many);
they are accepted and ignored, while every field we do act on is typed and range-checked."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")
