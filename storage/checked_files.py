"""Blobs of the filesystem store that many readers download at once, checked once.

Every read of a blob is checked against its SHA-256. When thirty members download the same
gigabyte of papers at once, hashing it thirty times costs more than sending it; this keeps, per hub
process, which files were found whole (by the file's device, inode, size and modification time, so
a file replaced or rewritten since is checked again) together with their CRC-32, which a ZIP entry
needs before its bytes. Readers of a checked file may then hand it to the kernel (`sendfile`)
without reading it themselves. Files being checked for the first time are checked once, whoever
asks: the others wait for that one check.

What this gives up: a byte flipped in place on disk by something that also restores the file's
modification time is not noticed by the hub until the process restarts. The ZIP's CRC-32 (taken
when the file was checked) still makes any unzip tool refuse such an entry, and the packet's sealed
manifest names every paper's SHA-256."""

from __future__ import annotations

import asyncio
import os
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from storage.blobs import (
    CHUNK_SIZE,
    BlobNotFound,
    BlobStoreUnavailable,
    Verifier,
    check_sha256,
)
from storage.blobs_fs import FilesystemBlobStore

#: How many files' checks a process remembers (about 150 bytes each).
MAX_REMEMBERED = 100_000

Identity = tuple[int, int, int, int]


@dataclass(frozen=True)
class CheckedFile:
    """An open blob file, positioned at its start, found whole; the caller closes `file`."""

    file: BinaryIO
    size: int
    crc32: int


def _identity(st: os.stat_result) -> Identity:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _hash(f: BinaryIO, sha256: str) -> int:
    """Read `f` from its start: raise BlobCorrupt unless it hashes to `sha256`; return its CRC-32."""
    f.seek(0)
    verifier = Verifier(sha256)
    crc = 0
    while chunk := f.read(CHUNK_SIZE):
        verifier.update(chunk)
        crc = zlib.crc32(chunk, crc)
    f.seek(0)
    verifier.check()
    return crc


class CheckedFiles:
    def __init__(self, store: FilesystemBlobStore, *, remember: int = MAX_REMEMBERED) -> None:
        self.store = store
        self.remember = remember
        self._known: dict[str, tuple[Identity, int]] = {}
        self._checking: dict[tuple[str, Identity], asyncio.Future[int]] = {}
        #: How many times a file was read through to check it (for tests and the bench).
        self.checks = 0

    async def open(self, sha256: str) -> CheckedFile:
        """The blob's file, open and found whole (checked now unless this very file was already)."""
        sha = check_sha256(sha256)
        path = self.store.path_of(sha)
        try:
            f = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise BlobNotFound(sha) from None
        except OSError as exc:
            raise BlobStoreUnavailable(f"cannot read blob {path}: {exc.strerror}") from exc
        try:
            st = os.fstat(f.fileno())
            identity = _identity(st)
            known = self._known.get(sha)
            if known is not None and known[0] == identity:
                return CheckedFile(f, st.st_size, known[1])
            crc = await self._check(sha, identity, f)
            return CheckedFile(f, st.st_size, crc)
        except BaseException:
            f.close()
            raise

    async def crc32(self, sha256: str) -> tuple[int, int]:
        """(size, CRC-32) of a blob, checking it if need be."""
        checked = await self.open(sha256)
        checked.file.close()
        return checked.size, checked.crc32

    async def _check(self, sha: str, identity: Identity, f: BinaryIO) -> int:
        key = (sha, identity)
        running = self._checking.get(key)
        if running is not None:
            try:
                return await asyncio.shield(running)
            except asyncio.CancelledError:
                if not running.cancelled():
                    raise  # this reader was cancelled
                # The reader doing the check was cancelled: check it here instead.
        return await self._check_now(sha, identity, f)

    async def _check_now(self, sha: str, identity: Identity, f: BinaryIO) -> int:
        key = (sha, identity)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._checking[key] = future
        try:
            self.checks += 1
            crc = await asyncio.to_thread(_hash, f, sha)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waits
            raise
        else:
            future.set_result(crc)
            self._remember(sha, identity, crc)
            return crc
        finally:
            if self._checking.get(key) is future:
                del self._checking[key]

    def _remember(self, sha: str, identity: Identity, crc: int) -> None:
        self._known.pop(sha, None)
        self._known[sha] = (identity, crc)
        while len(self._known) > self.remember:
            self._known.pop(next(iter(self._known)))
