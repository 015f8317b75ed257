"""The store interfaces: records (users, tokens, usage ledger), quota counters, tasks, stored responses,
the shared job queue and the worker directory (task files: `files.py`).

Nothing outside `openmaas.store` touches SQL or Redis; `backends.py` picks the implementations. The
embedded default implements records, counters, tasks and responses on SQLite; the scaled-out mode
implements them on PostgreSQL, the counters on Redis, the job queue on PostgreSQL and the worker
directory on Redis.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar

from openmaas.domain.accounts import Caller, TokenInfo, UsageRow, User
from openmaas.domain.models import ModelSpec
from openmaas.domain.responses import StoredResponse
from openmaas.domain.tasks import TaskError, TaskRecord, TaskStatus


class Unset:
    """The type of `UNSET`, which marks an update argument that was not given (None is a value)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET = Unset()

#: The quota counter of a user's calls across all models (the others are named by their model).
TOTAL = "*"


@dataclass(frozen=True, slots=True)
class QuotaState:
    """The counters of one user and model for one day, after a reservation attempt."""

    accepted: bool
    #: The limit that refused the call: "daily" (all models) or "model"; None when accepted.
    limit: str | None
    total_used: int
    total_limit: int
    model_used: int
    model_limit: int | None


class RecordStore(abc.ABC):
    """Users, tokens and the usage ledger (calls and tokens per user, model and day)."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and bring the schema up to date."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    # -- users --
    @abc.abstractmethod
    async def add_user(
        self, name: str, *, is_admin: bool, daily_limit: int | None, model_daily_limit: int | None
    ) -> User:
        """Raises `InvalidRequest` (param "name") when the name is taken."""

    @abc.abstractmethod
    async def get_user(self, name: str) -> User | None: ...

    @abc.abstractmethod
    async def list_users(self) -> list[User]: ...

    @abc.abstractmethod
    async def update_user(
        self,
        name: str,
        *,
        daily_limit: int | Unset | None = UNSET,
        model_daily_limit: int | Unset | None = UNSET,
        is_admin: bool | Unset = UNSET,
    ) -> User:
        """Change the given fields; raises `NotFound` for an unknown user."""

    # -- tokens --
    @abc.abstractmethod
    async def add_token(
        self, user_id: int, *, token_hash: str, prefix: str, label: str, models: tuple[str, ...] | None
    ) -> TokenInfo: ...

    @abc.abstractmethod
    async def caller_for(self, token_hash: str) -> Caller | None:
        """The user and active token with this hash, or None (unknown or revoked)."""

    @abc.abstractmethod
    async def list_tokens(self, user_name: str | None = None) -> list[TokenInfo]: ...

    @abc.abstractmethod
    async def revoke_tokens(
        self, *, token_hash: str | None = None, prefix: str | None = None
    ) -> list[TokenInfo]:
        """Revoke the active token with this hash, or the active tokens whose prefix starts with `prefix`."""

    @abc.abstractmethod
    async def revoke_token(self, token_id: int) -> TokenInfo | None:
        """Revoke the token with this id; the token (revoked now or before), or None if there is none."""

    # -- usage ledger --
    @abc.abstractmethod
    async def record_usage(
        self, user_id: int, day: date, model: str, *, calls: int, prompt_tokens: int, completion_tokens: int
    ) -> None:
        """Add to the user's row of the day and model (`calls` is -1 for a call given back)."""

    @abc.abstractmethod
    async def usage(
        self, first_day: date, last_day: date, user_name: str | None = None
    ) -> list[UsageRow]: ...


class QuotaCounter(abc.ABC):
    """Exact daily call counters: with N calls left and M > N concurrent reservations, N succeed."""

    #: True when `reserve` and `release` also count the call in the usage ledger, in the same
    #: transaction (counters kept in the ledger's own database); otherwise the caller writes the ledger.
    records_calls: ClassVar[bool] = False

    @abc.abstractmethod
    async def reserve(
        self,
        user_id: int,
        day: date,
        model: str,
        *,
        total_limit: int,
        model_limit: int | None,
        ttl_seconds: int,
    ) -> QuotaState:
        """Count one call if both limits allow it; otherwise count nothing. `ttl_seconds` is how long
        the counters must live (until the day's reset) for stores that expire them."""

    @abc.abstractmethod
    async def release(self, user_id: int, day: date, model: str) -> None:
        """Give back one call counted by `reserve` (the call failed on our side)."""

    @abc.abstractmethod
    async def used(self, user_id: int, day: date) -> tuple[int, dict[str, int]]:
        """Calls counted today: the total and per model."""


class TaskStore(abc.ABC):
    """Durable asynchronous tasks. Every status change is a compare-and-set on the current status, so
    that of two racing changes (a worker finishing, its owner cancelling) exactly one wins."""

    @abc.abstractmethod
    async def add_task(self, task: TaskRecord) -> None: ...

    @abc.abstractmethod
    async def get_task(self, task_id: str) -> TaskRecord | None: ...

    @abc.abstractmethod
    async def claim_task(self, task_id: str) -> TaskRecord | None:
        """PENDING → RUNNING with one more attempt; None if the task is not PENDING (any more)."""

    @abc.abstractmethod
    async def take_over_task(self, task_id: str, *, attempts: int) -> TaskRecord | None:
        """A RUNNING task whose run is presumed dead (its worker's lease lapsed) starts its next attempt:
        attempts + 1 if they still are `attempts` (the dead run's number); None if not (another worker
        took it over first, or the task moved on)."""

    @abc.abstractmethod
    async def report_progress(self, task_id: str, progress: float, *, attempt: int | None = None) -> bool:
        """Record a RUNNING task's progress (0-1); False if it is no longer RUNNING (cancelled), or, with
        `attempt`, no longer in that attempt (taken over)."""

    @abc.abstractmethod
    async def end_task(
        self,
        task_id: str,
        status: TaskStatus,
        *,
        expect: Sequence[TaskStatus],
        outputs: Sequence[str] = (),
        error: TaskError | None = None,
        attempt: int | None = None,
    ) -> TaskRecord | None:
        """Set a final status if the task is in one of `expect` (and, with `attempt`, still in that
        attempt); the updated task, or None if not."""

    @abc.abstractmethod
    async def requeue_task(self, task_id: str, *, count_attempt: bool, attempt: int | None = None) -> bool:
        """RUNNING → PENDING (its process stopped). Without `count_attempt` the attempt is given back."""

    @abc.abstractmethod
    async def pending_count(self) -> int:
        """How many tasks are PENDING (the length of the shared queue, for its bound)."""

    @abc.abstractmethod
    async def finished_count(self, since: datetime) -> int:
        """How many tasks ended since `since` (the workers' recent pace, for Retry-After estimates)."""

    @abc.abstractmethod
    async def list_tasks(
        self, user_id: int, *, limit: int, before: TaskRecord | None = None
    ) -> list[TaskRecord]:
        """A user's tasks, newest first: at most `limit`, only those older than `before` when given."""

    @abc.abstractmethod
    async def unfinished_tasks(self) -> list[TaskRecord]:
        """PENDING and RUNNING tasks, oldest first (to recover them at start-up)."""

    @abc.abstractmethod
    async def delete_tasks_finished_before(self, cutoff: datetime) -> list[TaskRecord]:
        """Delete the finished tasks last changed before `cutoff`; returns them (to delete their files)."""


class ResponseStore(abc.ABC):
    """Stored responses of the Responses API, each readable only by the user who created it. Reads take
    `since`, the oldest creation time still within the retention, so an expired response is gone at once
    even before the sweep (`delete_responses_created_before`) removes it."""

    @abc.abstractmethod
    async def add_response(self, response: StoredResponse) -> None: ...

    @abc.abstractmethod
    async def get_response(self, response_id: str, user_id: int, *, since: datetime) -> StoredResponse | None:
        """The user's response with this id, or None (unknown, another user's, or expired)."""

    @abc.abstractmethod
    async def response_chain(
        self, response_id: str, user_id: int, *, since: datetime, limit: int
    ) -> list[StoredResponse]:
        """The user's response with this id and the ones before it (following `previous_response_id`),
        newest first, in one query. It stops where a link is missing (deleted, expired, another user's)
        or after `limit` responses: the caller compares the last one's `previous_response_id` with None."""

    @abc.abstractmethod
    async def delete_response(self, response_id: str, user_id: int) -> bool:
        """Delete the user's response with this id; False if there was none."""

    @abc.abstractmethod
    async def delete_responses_created_before(self, cutoff: datetime) -> int:
        """Delete every response created before `cutoff`; returns how many."""


#: What runs a job: called with the task id and the model of the job's task.
JobHandler = Callable[[str, str], Awaitable[None]]


class JobQueue(abc.ABC):
    """The shared job queue of the scaled-out mode: one job per task, on the queue of the task's model,
    taken by image workers on any machine. A worker holds a lease it renews while it lives; the jobs of
    a worker whose lease lapsed can be put back (`requeue_stalled`)."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect (and create the queue's own tables at first use)."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def defer(self, task_id: str, model: str) -> None:
        """Queue a job for the task (none is added while one already waits for it)."""

    @abc.abstractmethod
    async def orphaned_tasks(self, older_than: float) -> list[tuple[str, str]]:
        """PENDING tasks (id, model) that no waiting or running job points to, unchanged for
        `older_than` seconds: the API process died between storing the task and queueing it, or a
        worker stopped after putting its task back."""

    @abc.abstractmethod
    async def requeue_stalled(self, lease_seconds: float) -> list[str]:
        """Put back the running jobs of workers whose lease lapsed `lease_seconds` ago; their task ids."""

    @abc.abstractmethod
    async def work(
        self,
        handler: JobHandler,
        *,
        models: list[str],
        name: str,
        concurrency: int,
        lease_seconds: float,
        stop_timeout: float,
    ) -> None:
        """Run the jobs of `models`, up to `concurrency` at once, renewing this worker's lease, until
        cancelled; running jobs then get `stop_timeout` seconds to end."""


@dataclass(frozen=True)
class WorkerEntry:
    """A live engine worker: where it listens and the models it serves."""

    worker_id: str
    url: str
    models: tuple[ModelSpec, ...]


class WorkerDirectory(abc.ABC):
    """Which engine workers are alive and which models each serves: a worker registers itself and renews
    the registration every heartbeat; it is alive while its last renewal is younger than its TTL."""

    @abc.abstractmethod
    async def register(
        self, worker_id: str, url: str, models: list[ModelSpec], ttl: float, **about: Any
    ) -> None:
        """Announce (or renew) a worker with the models it serves now, alive for `ttl` seconds."""

    @abc.abstractmethod
    async def unregister(self, worker_id: str) -> None: ...

    @abc.abstractmethod
    async def live(self) -> list[WorkerEntry]:
        """The workers whose registration has not lapsed."""

    @abc.abstractmethod
    async def close(self) -> None: ...
