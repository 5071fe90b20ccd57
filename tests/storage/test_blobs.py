"""The blob store's contract, run against the filesystem and against S3 (moto over real HTTP)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import stat
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from storage.blobs import (
    CHUNK_SIZE,
    BlobCorrupt,
    BlobNotFound,
    BlobStore,
    BlobStoreUnavailable,
    open_blob_store,
)
from storage.blobs_fs import FilesystemBlobStore
from storage.blobs_s3 import PART_SIZE, S3BlobStore

if TYPE_CHECKING:
    from tests.storage.conftest import MotoS3

MiB = 1024 * 1024
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass
class Backend:
    """A store plus a way to look behind its back, as an operator with a shell would."""

    name: str
    store: BlobStore
    overwrite: Callable[[str, bytes], None]  # replace a stored blob's bytes
    copies: Callable[[str], int]  # how many stored objects hold this hash
    leftovers: Callable[[], list[str]]  # temporary files or objects still lying around


def filesystem_backend(root: Path) -> Backend:
    store = FilesystemBlobStore(root)

    def overwrite(sha256: str, data: bytes) -> None:
        path = store.path_of(sha256)
        path.chmod(stat.S_IWUSR | stat.S_IRUSR)
        path.write_bytes(data)

    def copies(sha256: str) -> int:
        return sum(1 for p in root.rglob(sha256) if p.is_file())

    def leftovers() -> list[str]:
        tmp = root / ".tmp"
        return [p.name for p in tmp.iterdir()] if tmp.exists() else []

    return Backend("filesystem", store, overwrite, copies, leftovers)


def s3_backend(server: MotoS3, bucket: str) -> Backend:
    store = open_blob_store(server.url(bucket))
    client = server.client()

    def overwrite(sha256: str, data: bytes) -> None:
        key = S3BlobStore.key_of(sha256)
        client.put_object(bucket, key, io.BytesIO(data), len(data))

    def names(prefix: str) -> list[str]:
        objects = client.list_objects(bucket, prefix=prefix, recursive=True)
        return [o.object_name or "" for o in objects]

    def copies(sha256: str) -> int:
        return sum(1 for name in names("sha256/") if name.endswith(sha256))

    def leftovers() -> list[str]:
        if not client.bucket_exists(bucket):
            return []
        # minio has no public call for unfinished multipart uploads; this one is enough for a test.
        unfinished = client._list_multipart_uploads(bucket).uploads
        return names("tmp/") + [f"unfinished upload of {u.object_name}" for u in unfinished]

    return Backend("s3", store, overwrite, copies, leftovers)


@pytest.fixture(params=["filesystem", "s3"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "filesystem":
        chosen = filesystem_backend(tmp_path / "blobs")
    else:
        server = request.getfixturevalue("moto_s3")
        chosen = s3_backend(server, request.getfixturevalue("s3_bucket"))
    yield chosen
    await chosen.store.close()


def numbered_chunks(count: int, size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Distinct chunks made cheaply: a random block with the chunk's number stamped in front."""
    block = os.urandom(size)
    for i in range(count):
        yield i.to_bytes(8, "big") + block[8:]


async def as_stream(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def eventually(condition: Callable[[], bool], timeout: float = 10) -> bool:
    """Wait for a condition that another thread makes true, up to a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)


async def collect(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in stream])


# --- the contract, for both backends ---


async def test_a_stored_blob_reads_back_byte_for_byte(backend: Backend) -> None:
    data = b"<edXMLEnvelope>signed letter</edXMLEnvelope>" * 100

    ref = await backend.store.put(data)

    assert ref.sha256 == hashlib.sha256(data).hexdigest()
    assert ref.size == len(data)
    assert ref.created
    assert await backend.store.read(ref.sha256) == data
    assert await collect(backend.store.open(ref.sha256)) == data
    assert await backend.store.exists(ref.sha256)
    assert await backend.store.size(ref.sha256) == len(data)


async def test_bytes_streams_file_objects_and_paths_give_the_same_blob(
    backend: Backend, tmp_path: Path
) -> None:
    # Larger than one S3 part, so the streaming upload paths are the ones exercised.
    chunks = list(numbered_chunks(PART_SIZE // CHUNK_SIZE + 2))
    data = b"".join(chunks)
    path = tmp_path / "attachment.pdf"
    path.write_bytes(data)

    refs = [
        await backend.store.put(as_stream(iter(chunks))),
        await backend.store.put(data),
        await backend.store.put(io.BytesIO(data)),
        await backend.store.put_file(path),
    ]

    assert {(r.sha256, r.size) for r in refs} == {(hashlib.sha256(data).hexdigest(), len(data))}
    assert [r.created for r in refs] == [True, False, False, False]
    assert await backend.store.read(refs[0].sha256) == data
    assert backend.leftovers() == []


async def test_storing_the_same_bytes_twice_keeps_one_copy(backend: Backend) -> None:
    attachment = os.urandom(300_000)

    first = await backend.store.put(attachment)
    second = await backend.store.put(as_stream(iter([attachment[:1000], attachment[1000:]])))

    assert first.created
    assert not second.created
    assert second.sha256 == first.sha256
    assert backend.copies(first.sha256) == 1


async def test_an_empty_blob_is_a_blob(backend: Backend) -> None:
    ref = await backend.store.put(b"")

    assert (ref.sha256, ref.size) == (EMPTY_SHA256, 0)
    assert await backend.store.read(EMPTY_SHA256) == b""


async def test_a_large_blob_streams_through_without_sitting_in_memory(backend: Backend) -> None:
    size_mib = 200
    expected = hashlib.sha256()

    def counted() -> Iterator[bytes]:
        for chunk in numbered_chunks(size_mib):
            expected.update(chunk)
            yield chunk

    tracemalloc.start()
    try:
        started = time.perf_counter()
        ref = await backend.store.put(as_stream(counted()))
        put_seconds = time.perf_counter() - started
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()

        started = time.perf_counter()
        read_back = hashlib.sha256()
        read_size = 0
        async for chunk in backend.store.open(ref.sha256):
            read_back.update(chunk)
            read_size += len(chunk)
        read_seconds = time.perf_counter() - started
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert ref.sha256 == expected.hexdigest() == read_back.hexdigest()
    assert ref.size == read_size == size_mib * MiB
    # A memory bound, not a timing one: a few parts in flight, never the blob.
    assert put_peak < 48 * MiB, f"put held {put_peak / MiB:.0f} MiB"
    assert read_peak < 16 * MiB, f"read held {read_peak / MiB:.0f} MiB"
    print(
        f"\n{backend.name}: put {size_mib / put_seconds:.0f} MB/s (peak {put_peak / MiB:.1f} MiB),"
        f" read {size_mib / read_seconds:.0f} MB/s (peak {read_peak / MiB:.1f} MiB)"
    )


async def test_reading_a_blob_whose_bytes_changed_reports_it_corrupt(backend: Backend) -> None:
    data = os.urandom(3 * CHUNK_SIZE + 17)
    ref = await backend.store.put(data)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x01
    backend.overwrite(ref.sha256, bytes(flipped))

    with pytest.raises(BlobCorrupt) as caught:
        await backend.store.read(ref.sha256)

    assert ref.sha256 in str(caught.value)
    assert hashlib.sha256(flipped).hexdigest() in str(caught.value)


async def test_a_corrupt_blob_is_reported_before_its_last_chunk_is_handed_out(
    backend: Backend,
) -> None:
    data = os.urandom(3 * CHUNK_SIZE)
    ref = await backend.store.put(data)
    backend.overwrite(ref.sha256, data[:-1] + bytes([data[-1] ^ 0xFF]))

    received = []
    with pytest.raises(BlobCorrupt):
        async for chunk in backend.store.open(ref.sha256):
            received.append(chunk)

    assert sum(len(c) for c in received) < len(data)


async def test_reading_without_verification_returns_the_stored_bytes(backend: Backend) -> None:
    ref = await backend.store.put(b"original")
    backend.overwrite(ref.sha256, b"tampered")

    assert await collect(backend.store.open(ref.sha256, verify=False)) == b"tampered"


async def test_asking_for_an_unknown_blob_says_not_found(backend: Backend) -> None:
    unknown = hashlib.sha256(b"never stored").hexdigest()

    assert not await backend.store.exists(unknown)
    with pytest.raises(BlobNotFound):
        await backend.store.read(unknown)
    with pytest.raises(BlobNotFound):
        await backend.store.size(unknown)
    with pytest.raises(BlobNotFound):
        await collect(backend.store.open(unknown))


async def test_a_name_that_is_not_a_sha256_is_never_found(backend: Backend) -> None:
    for name in ["../../etc/passwd", "abc", "g" * 64, ""]:
        with pytest.raises(BlobNotFound):
            await backend.store.read(name)


async def test_a_deleted_blob_is_gone_and_deleting_again_is_harmless(backend: Backend) -> None:
    ref = await backend.store.put(b"to be removed")

    await backend.store.delete(ref.sha256)

    assert not await backend.store.exists(ref.sha256)
    with pytest.raises(BlobNotFound):
        await backend.store.read(ref.sha256)
    await backend.store.delete(ref.sha256)
    assert backend.copies(ref.sha256) == 0


async def test_concurrent_puts_of_the_same_bytes_store_one_good_copy(backend: Backend) -> None:
    small = os.urandom(200_000)
    large_chunks = list(numbered_chunks(PART_SIZE // CHUNK_SIZE + 1))
    large = b"".join(large_chunks)

    refs = await asyncio.gather(
        *[backend.store.put(small) for _ in range(8)],
        *[backend.store.put(as_stream(iter(large_chunks))) for _ in range(4)],
        *[backend.store.put(large) for _ in range(2)],
    )

    small_refs, large_refs = refs[:8], refs[8:]
    for data, group in [(small, small_refs), (large, large_refs)]:
        sha = hashlib.sha256(data).hexdigest()
        assert {(r.sha256, r.size) for r in group} == {(sha, len(data))}
        assert any(r.created for r in group)
        assert backend.copies(sha) == 1
        assert await backend.store.read(sha) == data
    assert backend.leftovers() == []


async def test_ping_answers_when_the_store_is_usable(backend: Backend) -> None:
    await backend.store.ping()


# --- what differs between backends ---


async def test_blobs_are_laid_out_by_hash_on_disk(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)

    ref = await store.put(b"hello")

    path = tmp_path / ref.sha256[:2] / ref.sha256[2:4] / ref.sha256
    assert path.read_bytes() == b"hello"
    assert not path.stat().st_mode & 0o222, "a stored blob is read-only"


async def test_a_second_put_keeps_the_first_file(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    ref = await store.put(as_stream(iter([b"same bytes"])))
    inode = store.path_of(ref.sha256).stat().st_ino

    again = await store.put(as_stream(iter([b"same ", b"bytes"])))

    assert not again.created
    assert store.path_of(ref.sha256).stat().st_ino == inode


async def test_concurrent_file_puts_report_exactly_one_creation(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    data = os.urandom(2 * CHUNK_SIZE)

    refs = await asyncio.gather(*[store.put(as_stream(iter([data]))) for _ in range(10)])

    assert sum(r.created for r in refs) == 1


async def test_a_failed_stream_leaves_no_partial_blob(backend: Backend) -> None:
    async def broken() -> AsyncIterator[bytes]:
        for chunk in numbered_chunks(PART_SIZE // CHUNK_SIZE + 2):
            yield chunk
        raise ConnectionResetError("the agency hung up")

    with pytest.raises(ConnectionResetError):
        await backend.store.put(broken())

    assert backend.leftovers() == []


async def test_a_cancelled_put_leaves_no_partial_blob(backend: Backend) -> None:
    upload_begun = asyncio.Event()

    async def slow_upload() -> AsyncIterator[bytes]:
        for i, chunk in enumerate(numbered_chunks(4 * PART_SIZE // CHUNK_SIZE)):
            if i == 2 * PART_SIZE // CHUNK_SIZE:
                upload_begun.set()  # past the first part: a multipart upload is under way
            yield chunk
            await asyncio.sleep(0.005)  # a slow agency connection

    put = asyncio.create_task(backend.store.put(slow_upload()))
    await asyncio.wait_for(upload_begun.wait(), 30)
    put.cancel()
    with pytest.raises(asyncio.CancelledError):
        await put

    # The S3 upload thread notices the cancellation at its next read and aborts by itself.
    assert await eventually(lambda: backend.leftovers() == [])


async def test_putting_a_missing_file_raises_the_file_error(
    backend: Backend, tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError):
        await backend.store.put_file(tmp_path / "no-such-attachment.pdf")


async def test_ping_reports_a_blob_folder_that_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_bytes(b"")
    store = FilesystemBlobStore(tmp_path / "a-file" / "blobs")

    with pytest.raises(BlobStoreUnavailable, match="not writable"):
        await store.ping()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through file permissions")
async def test_ping_reports_a_read_only_blob_folder(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    os.chmod(tmp_path, 0o500)
    try:
        with pytest.raises(BlobStoreUnavailable, match="not writable"):
            await store.ping()
    finally:
        os.chmod(tmp_path, 0o700)


async def test_ping_reports_an_s3_server_that_stopped(throwaway_moto_s3: MotoS3) -> None:
    store = open_blob_store(throwaway_moto_s3.url("axis-ping"))
    try:
        await store.ping()
        throwaway_moto_s3.stop()

        with pytest.raises(BlobStoreUnavailable) as caught:
            await store.ping()
        with pytest.raises(BlobStoreUnavailable):
            await store.read(EMPTY_SHA256)
    finally:
        await store.close()

    assert throwaway_moto_s3.endpoint in str(caught.value)


async def test_s3_store_creates_its_bucket_at_first_use(moto_s3: MotoS3, s3_bucket: str) -> None:
    store = open_blob_store(moto_s3.url(s3_bucket))
    try:
        assert not moto_s3.client().bucket_exists(s3_bucket)
        await store.put(b"first letter")
        assert moto_s3.client().bucket_exists(s3_bucket)
    finally:
        await store.close()


# --- URLs ---


def test_a_file_url_opens_the_filesystem_store(tmp_path: Path) -> None:
    store = open_blob_store(tmp_path.as_uri())

    assert isinstance(store, FilesystemBlobStore)
    assert store.root == tmp_path


def test_s3_urls_choose_tls_and_decode_credentials() -> None:
    plain = open_blob_store("s3://axis:p%40ss%2Fword@minio:9000/axis")
    tls = open_blob_store("s3+https://axis:secret@s3.example.gov.vn/letters?region=ap-southeast-1")

    assert isinstance(plain, S3BlobStore)
    assert isinstance(tls, S3BlobStore)
    assert (plain.endpoint, plain.bucket) == ("minio:9000", "axis")
    assert repr(plain) == "S3BlobStore('http://minio:9000/axis')"
    assert repr(tls) == "S3BlobStore('https://s3.example.gov.vn/letters')"


@pytest.mark.parametrize(
    "url",
    [
        "file://relative/path",
        "s3://minio:9000/axis",
        "s3://a:b@minio:9000/",
        "s3://a:b@minio:9000/bucket/sub",
        "ftp://example.org/blobs",
    ],
)
def test_a_bad_blob_url_is_refused_with_its_reason(url: str) -> None:
    with pytest.raises(ValueError, match="blob URL"):
        open_blob_store(url)
