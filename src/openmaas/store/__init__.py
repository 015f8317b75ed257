"""Persistence behind small interfaces (`base.py`, and `files.py` for task files); `backends.py` picks
the implementation of each from the settings. Nothing outside this package speaks SQL or Redis."""
