"""Image generation as tasks: a request becomes a task record that a worker runs later.

Here "task" is the job record (`openmaas.domain.tasks.TaskRecord`), not the kind of model a spec
serves: `service.py` submits, reads and cancels them; `job_queue.py` carries their ids to workers
(in-process) and `shared_queue.py` (PostgreSQL, the scaled-out mode); `job_runner.py` runs one;
`local_workers.py` and `shared_worker.py` are the loops that call it; `job_quota.py` gives back the call
of a job that failed; `job_retention.py` deletes finished jobs and their files.
"""
