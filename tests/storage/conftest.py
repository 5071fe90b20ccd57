"""A real S3 endpoint for the blob store tests: moto's server mode on a free loopback port.

Only S3 lives here; database and RabbitMQ fixtures belong to tests/conftest.py.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from minio import Minio
from minio.deleteobjects import DeleteObject

ACCESS_KEY = "axis-test"
SECRET_KEY = "axis-test-secret"
_MOTO_SERVER = Path(sys.executable).with_name("moto_server")


class MotoS3:
    """A moto S3 server in its own process (so its memory stays out of our measurements)."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.endpoint = f"127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._buckets = itertools.count(1)
        self._run = uuid.uuid4().hex[:10]

    def start(self) -> None:
        command = [str(_MOTO_SERVER), "-H", "127.0.0.1", "-p", str(self.port)]
        if not _MOTO_SERVER.exists():
            command = [sys.executable, "-m", "moto.server", *command[1:]]
        env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
        self._process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self._process.returncode}")
            try:
                with urllib.request.urlopen(f"http://{self.endpoint}/", timeout=1):
                    return
            except urllib.error.HTTPError:
                return  # it answers, even if not with 200
            except OSError:
                time.sleep(0.05)  # waiting on the port to open, bounded by the deadline
        self.stop()
        raise RuntimeError(f"moto_server did not answer on {self.endpoint} within 30 s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def new_bucket_name(self) -> str:
        return f"axis-test-{self._run}-{next(self._buckets)}"

    def url(self, bucket: str) -> str:
        return f"s3://{ACCESS_KEY}:{SECRET_KEY}@{self.endpoint}/{bucket}"

    def client(self) -> Minio:
        return Minio(
            self.endpoint,
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            secure=False,
            region="us-east-1",
        )

    def drop_bucket(self, bucket: str) -> None:
        client = self.client()
        if not client.bucket_exists(bucket):
            return
        names = [
            DeleteObject(o.object_name)
            for o in client.list_objects(bucket, recursive=True)
            if o.object_name
        ]
        for error in client.remove_objects(bucket, names):
            raise RuntimeError(f"could not clean bucket {bucket}: {error}")
        client.remove_bucket(bucket)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    server = MotoS3()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(moto_s3: MotoS3) -> Iterator[str]:
    """A bucket name no other test (or run) uses; the store creates it, we remove it after."""
    bucket = moto_s3.new_bucket_name()
    yield bucket
    with contextlib.suppress(Exception):
        moto_s3.drop_bucket(bucket)


@pytest.fixture
def throwaway_moto_s3() -> Iterator[MotoS3]:
    """A moto server of its own, for a test that stops it."""
    server = MotoS3()
    server.start()
    try:
        yield server
    finally:
        server.stop()
