"""Which LoRA mix the shared model weights carry while several jobs run at once.

LoRA adapters live on the shared UNet/transformer: switching the mix changes the weights every running
job sees. So jobs that want the mix now active run together, and the mix changes only when no job runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from openmaas.domain.images import LoraWeight

Mix = tuple[LoraWeight, ...]


class AdapterGate:
    def __init__(self, apply: Callable[[Mix], None]) -> None:
        self._apply = apply
        self._changed = threading.Condition()
        self._active: Mix = ()
        self._users = 0

    @contextmanager
    def using(self, mix: Mix, *, while_waiting: Callable[[], None]) -> Iterator[None]:
        """Hold `mix` active for the block. `while_waiting` runs periodically while the block waits for
        other jobs to finish, and may raise to give up (a cancelled job)."""
        wanted = tuple(sorted(mix, key=lambda lora: lora.id))
        with self._changed:
            while self._users and self._active != wanted:
                while_waiting()
                self._changed.wait(timeout=0.25)
            if self._active != wanted:
                self._apply(wanted)
                self._active = wanted
            self._users += 1
        try:
            yield
        finally:
            with self._changed:
                self._users -= 1
                self._changed.notify_all()
