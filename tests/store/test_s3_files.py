"""Task files in S3-compatible object storage, against a local S3 server (moto, with S3's presigned-URL
checks) on 127.0.0.1: writing, reading, presigned URLs fetched with a bare GET until they expire,
deleting, and the start-up check of the bucket."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from openmaas.settings import Settings
from openmaas.store.s3_files import ObjectStorageError, S3TaskFiles
from tests.object_storage import create_bucket, s3_server
from tests.s3_server import ACCESS_KEY, REGION, SECRET_KEY


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with s3_server(tmp_path_factory.mktemp("s3")) as url:
        yield url


def settings(endpoint: str, bucket: str, **extra: Any) -> Settings:
    return Settings(
        s3_bucket=bucket,
        s3_endpoint_url=endpoint,
        s3_region=REGION,
        s3_addressing_style="path",
        s3_access_key_id=SecretStr(ACCESS_KEY),
        s3_secret_access_key=SecretStr(SECRET_KEY),
        **extra,
    )


@pytest.fixture
async def store(endpoint: str) -> AsyncIterator[S3TaskFiles]:
    bucket = f"outputs-{uuid.uuid4().hex[:8]}"
    create_bucket(endpoint, bucket)
    the_store = S3TaskFiles(settings(endpoint, bucket, s3_prefix="run/"))
    await the_store.open()
    yield the_store
    await the_store.close()


def keys_in(store: S3TaskFiles) -> list[str]:
    listing = store._client.list_objects_v2(Bucket=store.bucket)
    return sorted(obj["Key"] for obj in listing.get("Contents", []))


async def test_outputs_are_written_read_and_fetched_with_a_bare_get(store: S3TaskFiles) -> None:
    keys = await store.save_outputs("task-1", 1, [b"png one", b"png two"])
    assert keys == ["outputs/task-1/1-0.png", "outputs/task-1/1-1.png"]
    assert keys_in(store) == ["run/outputs/task-1/1-0.png", "run/outputs/task-1/1-1.png"]
    assert await store.read(keys[1]) == b"png two"
    url = store.url(keys[0], "http://ignored.example")
    assert url.startswith(f"{store._client.meta.endpoint_url}/{store.bucket}/run/outputs/task-1/1-0.png?")
    assert "X-Amz-Expires=86400" in url
    response = httpx.get(url)  # no Authorization header, as ModelScope's client downloads
    assert response.status_code == 200
    assert response.content == b"png one"
    assert response.headers["content-type"] == "image/png"


async def test_presigned_urls_expire_and_cannot_be_altered(store: S3TaskFiles) -> None:
    (key,) = await store.save_outputs("task-2", 1, [b"short-lived"])
    tampered = httpx.get(store.url(key, "").replace("task-2/1-0.png", "task-2/1-1.png"))
    assert tampered.status_code == 403
    assert "signature" in tampered.text
    store.ttl_seconds = 3  # the settings allow 60 s at least; the URL's life is what is tested
    url = store.url(key, "")
    assert httpx.get(url).status_code == 200
    await asyncio.sleep(4.1)
    expired = httpx.get(url)
    assert expired.status_code == 403
    assert "Request has expired" in expired.text
    fresh = store.url(key, "")  # every read of a task hands out a fresh one
    assert httpx.get(fresh).content == b"short-lived"


async def test_deleting_task_files(store: S3TaskFiles) -> None:
    first = await store.save_outputs("task-3", 1, [b"a", b"b"])
    await store.save_outputs("task-3", 2, [b"c"])
    await store.save_input("task-3", b"input")
    await store.save_outputs("task-4", 1, [b"d"])
    await store.delete_keys(first)  # a run that lost the race deletes only its own files
    assert keys_in(store) == ["run/inputs/task-3", "run/outputs/task-3/2-0.png", "run/outputs/task-4/1-0.png"]
    await store.delete_input("task-3")
    await store.delete_task_files("task-3")
    assert keys_in(store) == ["run/outputs/task-4/1-0.png"]
    assert await store.delete_older_than(3600) == 0
    time.sleep(1.1)
    assert await store.delete_older_than(1) == 1
    assert keys_in(store) == []


async def test_a_missing_bucket_fails_at_start(endpoint: str) -> None:
    missing = S3TaskFiles(settings(endpoint, "no-such-bucket"))
    with pytest.raises(ObjectStorageError, match="no-such-bucket"):
        await missing.open()
    await missing.close()


def test_presigned_urls_live_at_most_a_week() -> None:
    with pytest.raises(ValueError, match="7 days"):
        Settings(s3_bucket="b", image_url_ttl_seconds=8 * 24 * 3600)


def test_credentials_stay_out_of_reprs(endpoint: str, tmp_path: Path) -> None:
    configured = settings(endpoint, "b")
    assert SECRET_KEY not in repr(configured)
    assert SECRET_KEY not in str(configured.model_dump())
