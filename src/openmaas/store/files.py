"""Task files: the images a task produced (`outputs/`) and the image it edits (`inputs/`).

A file is named by a key: `outputs/<task id>/<attempt>-<index>.png` or `inputs/<task id>`. The attempt is
part of an output's key so that two runs of one task (a worker taken for dead that was only slow) never
write or delete each other's files; the run that ends the task first wins, the other deletes its own.

`TaskFiles` is the interface; `LocalTaskFiles` keeps the files in the data dir (the embedded
default) and hands out URLs signed by this server (`/v1/files/...`); `S3TaskFiles`
(`openmaas.store.s3_files`) keeps them in S3-compatible object storage with presigned URLs.
"""

from __future__ import annotations

import abc
import asyncio
import re
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from openmaas.domain.errors import NotFound
from openmaas.store.signed_urls import UrlSigner

FILES_PREFIX = "/v1/files/"
# Keys written before the attempt was part of them (`outputs/<task>/<index>.png`) stay valid.
_OUTPUT_KEY = re.compile(r"outputs/([A-Za-z0-9_-]{1,64})/([0-9]{1,4}-)?([0-9]{1,2})\.png")
_TASK_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def output_key(task_id: str, attempt: int, index: int) -> str:
    return f"outputs/{checked_task_id(task_id)}/{attempt}-{index}.png"


def input_key(task_id: str) -> str:
    return f"inputs/{checked_task_id(task_id)}"


def is_output_key(key: str) -> bool:
    return _OUTPUT_KEY.fullmatch(key) is not None


def checked_task_id(task_id: str) -> str:
    if _TASK_ID.fullmatch(task_id) is None:
        raise ValueError(f"not a task id: {task_id!r}")
    return task_id


class TaskFiles(abc.ABC):
    """Where task files live, and the URLs that fetch outputs with a bare GET (no token)."""

    @abc.abstractmethod
    async def save_outputs(self, task_id: str, attempt: int, images: Sequence[bytes]) -> list[str]:
        """Write a run's PNGs; returns their keys, in order."""

    @abc.abstractmethod
    async def save_input(self, task_id: str, data: bytes) -> str: ...

    @abc.abstractmethod
    async def read(self, key: str) -> bytes: ...

    @abc.abstractmethod
    def url(self, key: str, base_url: str) -> str:
        """An absolute URL that fetches the output for a while (`image_url_ttl_seconds`), then is 403.
        `base_url` is this server's public base, for stores that serve the files themselves."""

    @abc.abstractmethod
    async def delete_keys(self, keys: Sequence[str]) -> None: ...

    @abc.abstractmethod
    async def delete_input(self, task_id: str) -> None: ...

    @abc.abstractmethod
    async def delete_task_files(self, task_id: str) -> None:
        """Every file of the task: its outputs (of any run) and its input."""

    @abc.abstractmethod
    async def delete_older_than(self, seconds: float) -> int:
        """Remove task files not changed for `seconds` (those of tasks the store no longer knows)."""

    async def open(self) -> None:  # noqa: B027 - local folders need no check
        """Check the store can be used (at start-up, so a misconfiguration fails loudly)."""

    async def close(self) -> None:  # noqa: B027 - stores without connections need no clean-up
        """Release connections."""


class LocalTaskFiles(TaskFiles):
    """Files under the data dir, written to a temporary name and renamed, so a reader (or a restart)
    never sees half a file; served by this server at `/v1/files/<key>` behind HMAC-signed URLs."""

    def __init__(self, data_dir: Path, signer: UrlSigner, ttl_seconds: int) -> None:
        self.root = data_dir
        self.outputs = data_dir / "outputs"
        self.inputs = data_dir / "inputs"
        self.signer = signer
        self.ttl_seconds = ttl_seconds

    async def save_outputs(self, task_id: str, attempt: int, images: Sequence[bytes]) -> list[str]:
        keys = [output_key(task_id, attempt, i) for i in range(len(images))]
        await asyncio.to_thread(self._write_all, keys, list(images))
        return keys

    async def save_input(self, task_id: str, data: bytes) -> str:
        key = input_key(task_id)
        await asyncio.to_thread(self._write_all, [key], [data])
        return key

    async def read(self, key: str) -> bytes:
        return await asyncio.to_thread((self.root / key).read_bytes)

    def url(self, key: str, base_url: str) -> str:
        return base_url.rstrip("/") + self.signer.sign(FILES_PREFIX + key, self.ttl_seconds)

    async def read_signed(self, key: str, expires: str | None, signature: str | None) -> bytes:
        """The file behind a signed URL; 403 for a bad or expired signature, 404 when it is gone.

        Read whole, in one step: the retention clean-up may delete it at any moment, and a file
        opened later than it was found would turn that into a server error."""
        self.signer.verify(FILES_PREFIX + key, expires, signature)
        if is_output_key(key):
            try:
                return await asyncio.to_thread((self.root / key).read_bytes)
            except (FileNotFoundError, IsADirectoryError):
                pass
        raise NotFound("This output no longer exists (outputs are deleted after a while).")

    def _write_all(self, keys: list[str], contents: list[bytes]) -> None:
        for key, data in zip(keys, contents, strict=True):
            path = self.root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.partial")
            partial.write_bytes(data)
            partial.replace(path)

    async def delete_keys(self, keys: Sequence[str]) -> None:
        def remove() -> None:
            for key in keys:
                if is_output_key(key):
                    (self.root / key).unlink(missing_ok=True)

        await asyncio.to_thread(remove)

    async def delete_input(self, task_id: str) -> None:
        await asyncio.to_thread((self.root / input_key(task_id)).unlink, missing_ok=True)

    async def delete_task_files(self, task_id: str) -> None:
        task_id = checked_task_id(task_id)

        def remove() -> None:
            shutil.rmtree(self.outputs / task_id, ignore_errors=True)
            (self.inputs / task_id).unlink(missing_ok=True)

        await asyncio.to_thread(remove)

    async def delete_older_than(self, seconds: float) -> int:
        cutoff = time.time() - seconds

        def sweep() -> int:
            removed = 0
            for folder in (self.outputs, self.inputs):
                if not folder.is_dir():
                    continue
                for entry in folder.iterdir():
                    if entry.stat().st_mtime < cutoff:
                        if entry.is_dir():
                            shutil.rmtree(entry, ignore_errors=True)
                        else:
                            entry.unlink(missing_ok=True)
                        removed += 1
            return removed

        return await asyncio.to_thread(sweep)
