"""Files that many members download at once are checked against their SHA-256 once per hub
process, and again whenever the file on disk is another one (replaced, rewritten)."""

from __future__ import annotations

import asyncio
import os
import zlib
from pathlib import Path

import pytest

from storage.blobs import BlobCorrupt, BlobNotFound
from storage.blobs_fs import FilesystemBlobStore
from storage.checked_files import CheckedFiles


@pytest.fixture
def store(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "blobs")


def _rewrite(path: Path, data: bytes) -> None:
    path.chmod(0o644)
    path.write_bytes(data)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))


async def test_many_readers_at_once_check_a_file_once_and_get_its_crc(
    store: FilesystemBlobStore,
) -> None:
    data = os.urandom(3 << 20)
    ref = await store.put(data)
    files = CheckedFiles(store)
    opened = await asyncio.gather(*(files.open(ref.sha256) for _ in range(20)))
    try:
        assert files.checks == 1
        for checked in opened:
            assert (checked.size, checked.crc32) == (len(data), zlib.crc32(data))
            assert checked.file.read() == data  # each is open at its start
    finally:
        for checked in opened:
            checked.file.close()
    assert await files.crc32(ref.sha256) == (len(data), zlib.crc32(data))
    assert files.checks == 1


async def test_a_file_rewritten_on_disk_is_checked_again_and_refused_when_corrupt(
    store: FilesystemBlobStore,
) -> None:
    data = b"%PDF-1.7 " + os.urandom(100_000)
    ref = await store.put(data)
    files = CheckedFiles(store)
    assert await files.crc32(ref.sha256) == (len(data), zlib.crc32(data))
    path = store.path_of(ref.sha256)
    _rewrite(path, data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(BlobCorrupt):
        await files.open(ref.sha256)
    with pytest.raises(BlobCorrupt):  # and again: a corrupt file is never remembered as whole
        await files.open(ref.sha256)
    _rewrite(path, data)  # restored from a backup: whole again, checked again
    assert await files.crc32(ref.sha256) == (len(data), zlib.crc32(data))
    assert files.checks == 4


async def test_a_blob_that_is_not_there_is_not_found(store: FilesystemBlobStore) -> None:
    with pytest.raises(BlobNotFound):
        await CheckedFiles(store).open("a" * 64)
