"""The diffusers image engine (registered as `diffusers`) and the locally built demo model.

Importing this package imports torch and diffusers: only the engine registry does, when a model needs it.
"""

from openmaas.engines.diffusers.engine import DiffusersImageEngine

__all__ = ["DiffusersImageEngine"]
