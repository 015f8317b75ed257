"""`CommandError`: the failure a command reports to its user."""

from __future__ import annotations


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""
