"""The local S3-compatible server (`tests/s3_server.py`) as a subprocess on a free port of 127.0.0.1, and
the settings that point OpenMaaS at a bucket of it."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx

from tests.s3_server import ACCESS_KEY, REGION, SECRET_KEY
from tests.servers import REPO, _env, free_port


@contextlib.contextmanager
def s3_server(log_dir: Path) -> Iterator[str]:
    """Start the server; yields its endpoint URL."""
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / f"s3-{port}.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.s3_server", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_env(),
            cwd=REPO,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the S3 server exited with {process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(endpoint, timeout=2)
                break
            if time.monotonic() > deadline:
                raise TimeoutError("the S3 server did not start")
            time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def create_bucket(endpoint: str, bucket: str) -> None:
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    client.create_bucket(Bucket=bucket)
    client.close()


def s3_env(endpoint: str, bucket: str) -> dict[str, str]:
    """`OPENMAAS_S3_*` for a process; the credentials through the standard AWS variables."""
    return {
        "OPENMAAS_S3_BUCKET": bucket,
        "OPENMAAS_S3_ENDPOINT_URL": endpoint,
        "OPENMAAS_S3_REGION": REGION,
        "OPENMAAS_S3_ADDRESSING_STYLE": "path",
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    }
