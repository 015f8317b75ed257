"""An image model that image workers serve, as API processes of the scaled-out mode see it.

Image jobs never run in an API process there: they are tasks on the shared queue (see
`openmaas.services.images.shared_queue`), taken by the workers that registered the model. This engine
stands for the model in the API process so that it is listed, metered and checked like any other; it
knows how many live workers offer the model (from the worker directory) and refuses new tasks while
none does.
"""

from __future__ import annotations

from openmaas.domain.errors import EngineFailure, Overloaded
from openmaas.domain.images import ImageJob, ProgressCallback
from openmaas.engines.base import ImageEngine


class QueuedImageEngine(ImageEngine):
    workers = 0

    async def start(self) -> None:
        """Nothing to load: the workers hold the weights."""

    def set_workers(self, count: int) -> None:
        """How many live image workers offer the model (from each read of the worker directory)."""
        self.workers = count

    def check_available(self) -> None:
        """503 while no live worker offers the model: a task would wait for nobody."""
        if self.workers == 0:
            raise Overloaded(
                f"No image worker serves {self.spec.id!r} right now; retry shortly.", retry_after=5
            )

    async def generate(self, job: ImageJob, progress: ProgressCallback) -> list[bytes]:
        raise EngineFailure(
            f"The model {self.spec.id!r} runs on image workers: its jobs go through the task queue."
        )
