"""Task files in S3-compatible object storage (AWS S3, MinIO, Ceph RGW, ...), for the scaled-out mode.

Image workers write the PNGs; any API process hands out presigned GET URLs (SigV4, expiring after
`image_url_ttl_seconds`, at most 7 days), so clients download straight from object storage with a bare
GET, and API processes never carry image bytes. Presigning is a local computation: no request to S3.

boto3 runs in worker threads (`asyncio.to_thread`). A task makes a handful of S3 calls, each worth far
less than the image generation around it; boto3's client is thread-safe, and unlike aiobotocore it does
not pin botocore to a narrow range that other packages then fight over.

Credentials come from the settings (`s3_access_key_id` / `s3_secret_access_key`) or, when unset, from
the standard AWS chain (`AWS_ACCESS_KEY_ID`..., a profile, an instance role); they are never logged.
Retention is our own sweep (`delete_task_files` as tasks expire, `delete_older_than` for strays),
which works on every S3-compatible server; a bucket lifecycle rule may be added on top.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from openmaas.settings import Settings
from openmaas.store.files import TaskFiles, checked_task_id, input_key, is_output_key, output_key

_DELETE_BATCH = 1000  # the most keys one DeleteObjects call takes


class ObjectStorageError(RuntimeError):
    """Object storage refused or could not be reached; the message says which bucket and why."""


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


class S3TaskFiles(TaskFiles):
    def __init__(self, settings: Settings) -> None:
        if settings.s3_bucket is None:
            raise ValueError("S3TaskFiles needs s3_bucket")
        self.bucket = settings.s3_bucket
        self.prefix = settings.s3_prefix
        self.ttl_seconds = settings.image_url_ttl_seconds
        session = boto3.session.Session(
            aws_access_key_id=_secret(settings.s3_access_key_id),
            aws_secret_access_key=_secret(settings.s3_secret_access_key),
            region_name=settings.s3_region,
        )
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": settings.s3_addressing_style},
            retries={"max_attempts": 5, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
            max_pool_connections=32,
        )
        self._client = session.client("s3", endpoint_url=settings.s3_endpoint_url, config=config)
        public = settings.s3_public_endpoint_url or settings.s3_endpoint_url
        self._presigner = session.client("s3", endpoint_url=public, config=config)

    def _object(self, key: str) -> str:
        return self.prefix + key

    async def open(self) -> None:
        """Check that the bucket exists and is ours to use (fail at start-up, not on the first task)."""
        try:
            await asyncio.to_thread(self._client.head_bucket, Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise ObjectStorageError(f"cannot use the S3 bucket {self.bucket!r}: {exc}") from exc

    async def close(self) -> None:
        self._client.close()
        self._presigner.close()

    async def save_outputs(self, task_id: str, attempt: int, images: Sequence[bytes]) -> list[str]:
        keys = [output_key(task_id, attempt, i) for i in range(len(images))]

        def put_all() -> None:
            for key, png in zip(keys, images, strict=True):
                self._client.put_object(
                    Bucket=self.bucket,
                    Key=self._object(key),
                    Body=png,
                    ContentType="image/png",
                    CacheControl="private, max-age=3600",
                )

        await asyncio.to_thread(put_all)
        return keys

    async def save_input(self, task_id: str, data: bytes) -> str:
        key = input_key(task_id)
        await asyncio.to_thread(self._client.put_object, Bucket=self.bucket, Key=self._object(key), Body=data)
        return key

    async def read(self, key: str) -> bytes:
        def get() -> bytes:
            response = self._client.get_object(Bucket=self.bucket, Key=self._object(key))
            body: bytes = response["Body"].read()
            return body

        return await asyncio.to_thread(get)

    def url(self, key: str, base_url: str) -> str:
        if not is_output_key(key):
            raise ValueError(f"not an output key: {key!r}")
        url: str = self._presigner.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._object(key)}, ExpiresIn=self.ttl_seconds
        )
        return url

    async def delete_keys(self, keys: Sequence[str]) -> None:
        await asyncio.to_thread(self._delete, [self._object(k) for k in keys])

    async def delete_input(self, task_id: str) -> None:
        await self.delete_keys([input_key(task_id)])

    async def delete_task_files(self, task_id: str) -> None:
        folder = self._object(f"outputs/{checked_task_id(task_id)}/")

        def remove() -> None:
            self._delete([obj["Key"] for obj in self._listing(folder)] + [self._object(input_key(task_id))])

        await asyncio.to_thread(remove)

    async def delete_older_than(self, seconds: float) -> int:
        cutoff = time.time() - seconds

        def sweep() -> int:
            stale = [
                obj["Key"]
                for folder in ("outputs/", "inputs/")
                for obj in self._listing(self._object(folder))
                if obj["LastModified"].timestamp() < cutoff
            ]
            self._delete(stale)
            return len(stale)

        return await asyncio.to_thread(sweep)

    def _listing(self, prefix: str) -> Iterator[dict[str, Any]]:
        pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        for page in pages:
            yield from page.get("Contents", [])

    def _delete(self, object_keys: list[str]) -> None:
        for start in range(0, len(object_keys), _DELETE_BATCH):
            batch = [{"Key": key} for key in object_keys[start : start + _DELETE_BATCH]]
            self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
