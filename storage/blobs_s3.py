"""The S3/MinIO blob store: one object per blob at `sha256/ab/abcd...` in one bucket.

The `minio` client is synchronous, so every call runs on this store's own threads. A stream's hash is
known only at its end, so it is uploaded to `tmp/<uuid>` while hashing and then copied server-side
to its content address; bytes that fit in one part are hashed first and written there directly.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import hashlib
import io
import threading
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import urllib3
from minio import Minio
from minio.commonconfig import ComposeSource
from minio.error import MinioException, S3Error

from storage.blobs import (
    CHUNK_SIZE,
    BlobNotFound,
    BlobRef,
    BlobSource,
    BlobStoreUnavailable,
    Verifier,
    check_sha256,
)

#: Multipart part size: memory held per upload is a few parts, so keep it modest.
PART_SIZE = 8 * 1024 * 1024
_PARALLEL_PARTS = 2
_MISSING = frozenset({"NoSuchKey", "NoSuchObject", "NotFound"})
_NETWORK_ERRORS = (MinioException, urllib3.exceptions.HTTPError, OSError)

T = TypeVar("T")


class _SourceFailed(Exception):
    """The caller's bytes could not be read; carried through minio so the caller gets its own error."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class _Cancelled(Exception):
    """The put that fed this upload was cancelled; raised in the upload thread to abort it."""


class S3BlobStore:
    def __init__(
        self,
        *,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        secure: bool = False,
        region: str = "us-east-1",
        part_size: int = PART_SIZE,
    ) -> None:
        self.endpoint = endpoint
        self.bucket = bucket
        self._part_size = part_size
        scheme = "https" if secure else "http"
        self._where = f"{scheme}://{endpoint}/{bucket}"

        self._pools: list[urllib3.PoolManager] = []

        def client(timeout: urllib3.Timeout, retries: urllib3.Retry | bool) -> Minio:
            http = urllib3.PoolManager(timeout=timeout, maxsize=16, retries=retries)
            self._pools.append(http)
            return Minio(
                endpoint,
                access_key=access_key,
                secret_key=secret_key,
                secure=secure,
                region=region,  # given, so the client never asks the server for the bucket's region
                http_client=http,
            )

        self._client = client(
            urllib3.Timeout(connect=10, read=120),
            urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
        )
        # /readyz must answer quickly: no retries and short timeouts for the ping.
        self._ping_client = client(urllib3.Timeout(connect=3, read=5), False)
        # Our own threads: an upload thread waits on the event loop for the next chunk, and must
        # not starve the loop's default executor that the chunk's producer may itself be using.
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=16, thread_name_prefix="blobs-s3"
        )
        self._bucket_ready = False
        self._bucket_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"S3BlobStore({self._where!r})"

    @staticmethod
    def key_of(sha256: str) -> str:
        sha = check_sha256(sha256)
        return f"sha256/{sha[:2]}/{sha}"

    async def put(self, data: BlobSource) -> BlobRef:
        try:
            if isinstance(data, bytes | bytearray | memoryview):
                return await self._run(self._put_whole, bytes(data))
            if isinstance(data, AsyncIterable):
                return await self._put_async(data)
            return await self._run(self._put_file_object, data)
        except _SourceFailed as failed:
            raise failed.error from None

    async def put_file(self, path: Path) -> BlobRef:
        def put() -> BlobRef:
            try:
                f = path.open("rb")
            except OSError as exc:
                raise _SourceFailed(exc) from exc
            with f:
                return self._put_file_object(f)

        try:
            return await self._run(put)
        except _SourceFailed as failed:
            raise failed.error from None

    async def open(self, sha256: str, *, verify: bool = True) -> AsyncIterator[bytes]:
        key = self.key_of(sha256)
        sha = key.rsplit("/", 1)[1]
        response = await self._run(self._client.get_object, self.bucket, key, missing=sha)
        verifier = Verifier(sha)

        def read() -> bytes:
            chunk = response.read(CHUNK_SIZE)
            verifier.update(chunk)
            return chunk

        try:
            # One chunk of read-ahead, so a mismatch is raised before the last chunk goes out.
            chunk = await self._run(read)
            while True:
                following = await self._run(read)
                if not following:
                    if verify:
                        verifier.check()
                    if chunk:
                        yield chunk
                    return
                yield chunk
                chunk = following
        finally:
            response.close()
            response.release_conn()

    async def read(self, sha256: str) -> bytes:
        return b"".join([chunk async for chunk in self.open(sha256)])

    async def exists(self, sha256: str) -> bool:
        return await self._run(self._exists, self.key_of(sha256))

    async def size(self, sha256: str) -> int:
        key = self.key_of(sha256)
        missing = key.rsplit("/", 1)[1]
        stat = await self._run(self._client.stat_object, self.bucket, key, missing=missing)
        return int(stat.size or 0)

    async def delete(self, sha256: str) -> None:
        key = self.key_of(sha256)
        with contextlib.suppress(BlobNotFound):  # already gone, or the bucket was never made
            await self._run(self._client.remove_object, self.bucket, key, missing=key)

    async def ping(self) -> None:
        def ping() -> None:
            if not self._ping_client.bucket_exists(self.bucket):
                self._ensure_bucket()  # created at first use; a ping is a use

        await self._run(ping)

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        for pool in self._pools:
            pool.clear()

    async def _run(self, fn: Callable[..., T], *args: Any, missing: str | None = None) -> T:
        """Call `fn` on our threads; S3 and network failures become BlobStoreUnavailable, or
        BlobNotFound(missing) when the object (or bucket) is absent and the caller named a blob."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, functools.partial(fn, *args))
        except S3Error as exc:
            if missing is not None and (exc.code in _MISSING or exc.code == "NoSuchBucket"):
                raise BlobNotFound(missing) from None
            raise self._unavailable(exc) from exc
        except _NETWORK_ERRORS as exc:
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: BaseException) -> BlobStoreUnavailable:
        if isinstance(exc, S3Error):
            what = f"{exc.code}: {exc.message}"
        elif isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
            what = str(exc.reason)
        else:
            what = str(exc) or type(exc).__name__
        return BlobStoreUnavailable(f"S3 store {self._where} is unavailable: {what}")

    def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        with self._bucket_lock:
            if self._bucket_ready:
                return
            if not self._client.bucket_exists(self.bucket):
                try:
                    self._client.make_bucket(self.bucket)
                except S3Error as exc:
                    # Another replica created it between our question and our request.
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
            self._bucket_ready = True

    def _exists(self, key: str) -> bool:
        try:
            self._client.stat_object(self.bucket, key)
            return True
        except S3Error as exc:
            if exc.code in _MISSING or exc.code == "NoSuchBucket":
                return False
            raise

    def _put_whole(self, data: bytes) -> BlobRef:
        """Bytes whose hash we can know before writing: skip the upload when they are stored."""
        sha = hashlib.sha256(data).hexdigest()
        key = self.key_of(sha)
        self._ensure_bucket()
        if self._exists(key):
            return BlobRef(sha, len(data), created=False)
        self._client.put_object(
            self.bucket, key, io.BytesIO(data), len(data), part_size=self._part_size
        )
        return BlobRef(sha, len(data), created=True)

    def _put_file_object(self, source: BinaryIO) -> BlobRef:
        def next_chunk() -> bytes:
            try:
                return source.read(CHUNK_SIZE)
            except Exception as exc:
                raise _SourceFailed(exc) from exc

        head = bytearray()
        while len(head) <= self._part_size:
            chunk = next_chunk()
            if not chunk:
                return self._put_whole(bytes(head))
            head += chunk
        reader = _HashingReader(head, next_chunk)
        del head  # the reader owns it now; holding it here would keep a part alive all upload long
        return self._put_stream(reader)

    def _put_stream(self, reader: _HashingReader) -> BlobRef:
        self._ensure_bucket()
        temporary = f"tmp/{uuid.uuid4().hex}"
        try:
            self._client.put_object(
                self.bucket,
                temporary,
                reader,  # type: ignore[arg-type]  # minio needs only read(n)
                length=-1,
                part_size=self._part_size,
                num_parallel_uploads=_PARALLEL_PARTS,
            )
            sha = reader.digest.hexdigest()
            key = self.key_of(sha)
            if self._exists(key):
                return BlobRef(sha, reader.size, created=False)
            # compose, not copy: it splits sources above S3's 5 GiB single-copy limit into parts.
            self._client.compose_object(self.bucket, key, [ComposeSource(self.bucket, temporary)])
            return BlobRef(sha, reader.size, created=True)
        finally:
            # A stray tmp/ object costs space, not correctness; a lifecycle rule can sweep them.
            with contextlib.suppress(*_NETWORK_ERRORS):
                self._client.remove_object(self.bucket, temporary)

    async def _put_async(self, source: AsyncIterable[bytes]) -> BlobRef:
        iterator = aiter(source)
        # Gather the first part on the loop: most letters fit in it and skip the thread bridge.
        head = bytearray()
        async for chunk in iterator:
            head += chunk
            if len(head) > self._part_size:
                break
        else:
            return await self._run(self._put_whole, bytes(head))
        bridge = _LoopBridge(iterator, asyncio.get_running_loop())
        reader = _HashingReader(head, bridge.next_chunk)
        del head
        try:
            return await self._run(self._put_stream, reader)
        except asyncio.CancelledError:
            bridge.cancel()
            raise


class _LoopBridge:
    """Lets an upload thread pull chunks from an async iterator that lives on the event loop."""

    def __init__(self, iterator: AsyncIterator[bytes], loop: asyncio.AbstractEventLoop) -> None:
        self._iterator = iterator
        self._loop = loop
        self._cancelled = threading.Event()
        self._pending: concurrent.futures.Future[bytes] | None = None

    def next_chunk(self) -> bytes:
        if self._cancelled.is_set():
            raise _Cancelled
        self._pending = asyncio.run_coroutine_threadsafe(self._next(), self._loop)
        try:
            return self._pending.result()
        except concurrent.futures.CancelledError:
            raise _Cancelled from None
        except Exception as exc:
            raise _SourceFailed(exc) from exc

    def cancel(self) -> None:
        self._cancelled.set()
        if self._pending is not None:
            self._pending.cancel()

    async def _next(self) -> bytes:
        async for chunk in self._iterator:
            if chunk:  # an empty chunk from the producer must not read as the end
                return bytes(chunk)
        return b""


class _HashingReader:
    """A read(n) file over chunks that hashes every byte once as it passes to the uploader."""

    def __init__(self, head: bytearray, next_chunk: Callable[[], bytes]) -> None:
        self.digest = hashlib.sha256(head)
        self.size = len(head)
        self._buffer = head
        self._next_chunk = next_chunk
        self._ended = False

    def read(self, n: int = -1) -> bytes:
        # Fill the whole request: minio concatenates short reads, which copies a part many times.
        while (n < 0 or len(self._buffer) < n) and not self._ended:
            chunk = self._next_chunk()
            if not chunk:
                self._ended = True
                break
            self.digest.update(chunk)
            self.size += len(chunk)
            self._buffer += chunk
        if n < 0 or n >= len(self._buffer):
            out = bytes(self._buffer)
            self._buffer.clear()
            return out
        with memoryview(self._buffer) as view:
            out = bytes(view[:n])
        del self._buffer[:n]
        return out
