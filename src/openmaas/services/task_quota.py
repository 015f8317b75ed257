"""The call a task's submission counted, settled or given back from the task record alone.

Chat settles through the in-memory `Ticket` of its request; a task may end in another process, or
after a restart, so it settles from what its record says: the user, the model and the quota day.
A finished task counts one call (0 tokens) in the ledger; one that failed on our side gives it back.
"""

from __future__ import annotations

import logging

from openmaas.access.metering import Metering
from openmaas.domain.tasks import TaskRecord

log = logging.getLogger(__name__)


class TaskQuota:
    def __init__(self, metering: Metering) -> None:
        self.metering = metering

    async def settle(self, task: TaskRecord) -> None:
        try:
            await self.metering.ledger.record_usage(
                task.user_id, task.quota_day, task.model, calls=1, prompt_tokens=0, completion_tokens=0
            )
        except Exception:
            log.exception("could not record the usage of a task", extra={"task_id": task.id})

    async def refund(self, task: TaskRecord) -> None:
        try:
            await self.metering.counter.release(task.user_id, task.quota_day, task.model)
        except Exception:
            log.exception("could not give back the call of a task", extra={"task_id": task.id})
