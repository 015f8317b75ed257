"""Finding tags in streamed text when a tag may be split across chunks."""

from __future__ import annotations


def split_partial(text: str, tag: str) -> tuple[str, str]:
    """Split `text` into (safe, held): `held` is the longest suffix that could begin `tag`."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return text[:-size], text[-size:]
    return text, ""
