"""Retention: finished tasks and their files are deleted `image_retention_hours` after they ended.

Run by whichever processes run image tasks (the embedded server, or the image workers of the scaled-out
mode), every quarter of the retention and at most hourly. Several running it at once is harmless: each
deletion is idempotent. Files the store no longer knows (a crash between the two deletions, or a run
whose end lost a race) go a day after the retention.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from openmaas.periodic import Periodic, retention_interval
from openmaas.store.base import TaskStore
from openmaas.store.files import TaskFiles

log = logging.getLogger(__name__)


class TaskRetention:
    def __init__(self, tasks: TaskStore, outputs: TaskFiles, retention_hours: float) -> None:
        self.tasks = tasks
        self.outputs = outputs
        self.retention = timedelta(hours=retention_hours)

    async def clean_expired(self) -> int:
        """Delete finished tasks older than the retention, with their files; returns how many."""
        removed = await self.tasks.delete_tasks_finished_before(datetime.now(UTC) - self.retention)
        for task in removed:
            await self.outputs.delete_task_files(task.id)
        await self.outputs.delete_older_than((self.retention + timedelta(days=1)).total_seconds())
        return len(removed)

    def periodic(self) -> Periodic:
        """The clean-up, every quarter of the retention and at most hourly (started and stopped by
        whichever process runs the image tasks)."""

        async def clean() -> None:
            removed = await self.clean_expired()
            if removed:
                log.info("deleted expired image tasks", extra={"tasks": removed})

        return Periodic("cleaning expired image tasks", clean, retention_interval(self.retention))
