"""Personas: named system messages that set the model up as a character (a cat, Sun Wukong, ...).

The persona lesson's point is that the system message, sent first on every turn, shapes the whole
conversation. The built-in personas live in `personas.toml` beside this module; a user adds or overrides
personas in `<data dir>/personas.toml`, in the same format:

    [pirate]
    description = "a pirate captain"
    aliases = ["captain"]
    system = "You are a pirate captain. Answer like one."
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

USER_FILE = "personas.toml"
DEFAULT = "assistant"


class PersonaError(Exception):
    """A personas file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Persona:
    name: str
    system: str
    description: str = ""
    aliases: tuple[str, ...] = ()


class Personas:
    """The built-in personas, overridden and extended by the user's file; looked up by name or alias."""

    def __init__(self, personas: list[Persona]) -> None:
        self._by_name = {p.name: p for p in personas}

    @classmethod
    def load(cls, data_dir: Path | None) -> Personas:
        builtin = resources.files("openmaas").joinpath("personas.toml").read_text("utf-8")
        personas = {p.name: p for p in parse(builtin, "built-in personas")}
        user_file = data_dir / USER_FILE if data_dir is not None else None
        if user_file is not None and user_file.is_file():
            personas.update((p.name, p) for p in parse(user_file.read_text("utf-8"), str(user_file)))
        return cls(list(personas.values()))

    def all(self) -> list[Persona]:
        return sorted(self._by_name.values(), key=lambda p: p.name)

    def find(self, name: str) -> Persona | None:
        wanted = name.strip().casefold()
        for persona in self._by_name.values():
            if wanted == persona.name.casefold() or wanted in (a.casefold() for a in persona.aliases):
                return persona
        return None

    def names(self) -> str:
        return ", ".join(p.name for p in self.all())


def parse(text: str, source: str) -> list[Persona]:
    try:
        tables = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PersonaError(f"{source}: not valid TOML ({exc})") from exc
    return [_persona(name, table, source) for name, table in tables.items()]


def _persona(name: str, table: Any, source: str) -> Persona:
    if not isinstance(table, dict):
        raise PersonaError(f"{source}: [{name}] must be a table with a `system` text")
    system = table.get("system")
    if not isinstance(system, str) or not system.strip():
        raise PersonaError(f"{source}: [{name}] needs a non-empty `system` text")
    description = table.get("description", "")
    aliases = table.get("aliases", [])
    if not isinstance(description, str):
        raise PersonaError(f"{source}: [{name}] `description` must be text")
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise PersonaError(f"{source}: [{name}] `aliases` must be a list of names")
    unknown = set(table) - {"system", "description", "aliases"}
    if unknown:
        raise PersonaError(f"{source}: [{name}] has unknown keys: {', '.join(sorted(unknown))}")
    return Persona(name=name, system=system.strip(), description=description, aliases=tuple(aliases))
