"""The call a task's submission counted, given back from the task record alone.

Chat settles through the in-memory `Ticket` of its request; a task may end in another process, or
after a restart, so it settles from what its record says: the user, the model and the quota day. The
call is in the counters and the ledger from the submission on (a task produces no tokens), so a task
that finishes needs nothing more; one that failed on our side gives its call back.
"""

from __future__ import annotations

import logging

from openmaas.access.metering import Metering
from openmaas.domain.tasks import TaskRecord

log = logging.getLogger(__name__)


class TaskQuota:
    def __init__(self, metering: Metering) -> None:
        self.metering = metering

    async def refund(self, task: TaskRecord) -> None:
        try:
            await self.metering.give_back(task.user_id, task.quota_day, task.model)
        except Exception:
            log.exception("could not give back the call of a task", extra={"task_id": task.id})
