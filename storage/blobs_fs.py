"""The filesystem blob store: one read-only file per blob at ROOT/ab/cd/abcd..., written atomically.

A put fills a temporary file under ROOT/.tmp while hashing, fsyncs it, then hard-links it to its
content address, so a reader never sees half a blob and a second put of the same bytes keeps the first.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import BinaryIO

from storage.blobs import (
    CHUNK_SIZE,
    BlobNotFound,
    BlobRef,
    BlobSource,
    BlobStoreUnavailable,
    Verifier,
    check_sha256,
)

# Link is how we refuse to overwrite; where the filesystem has no hard links we fall back to rename.
_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV}


class FilesystemBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / ".tmp"

    def __repr__(self) -> str:
        return f"FilesystemBlobStore({str(self.root)!r})"

    def path_of(self, sha256: str) -> Path:
        sha = check_sha256(sha256)
        return self.root / sha[:2] / sha[2:4] / sha

    async def put(self, data: BlobSource) -> BlobRef:
        if isinstance(data, bytes | bytearray | memoryview):
            return await asyncio.to_thread(self._put_bytes, bytes(data))
        if isinstance(data, AsyncIterable):
            return await self._put_stream(data)
        return await asyncio.to_thread(self._put_file_object, data)

    async def put_file(self, path: Path) -> BlobRef:
        def put() -> BlobRef:
            with path.open("rb") as f:
                return self._put_file_object(f)

        return await asyncio.to_thread(put)

    async def open(self, sha256: str, *, verify: bool = True) -> AsyncIterator[bytes]:
        path = self.path_of(sha256)
        try:
            f = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise BlobNotFound(path.name) from None
        except OSError as exc:
            raise BlobStoreUnavailable(f"cannot read blob {path}: {exc.strerror}") from exc
        verifier = Verifier(path.name)
        try:
            # One chunk of read-ahead, so a mismatch is raised before the last chunk goes out.
            chunk = await asyncio.to_thread(_read_hashing, f, verifier)
            while True:
                following = await asyncio.to_thread(_read_hashing, f, verifier)
                if not following:
                    if verify:
                        verifier.check()
                    if chunk:
                        yield chunk
                    return
                yield chunk
                chunk = following
        finally:
            await asyncio.to_thread(f.close)

    async def read(self, sha256: str) -> bytes:
        return b"".join([chunk async for chunk in self.open(sha256)])

    async def exists(self, sha256: str) -> bool:
        return await asyncio.to_thread(self.path_of(sha256).is_file)

    async def size(self, sha256: str) -> int:
        path = self.path_of(sha256)
        try:
            return (await asyncio.to_thread(path.stat)).st_size
        except FileNotFoundError:
            raise BlobNotFound(path.name) from None

    async def delete(self, sha256: str) -> None:
        path = self.path_of(sha256)
        try:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        except OSError as exc:
            raise BlobStoreUnavailable(f"cannot delete blob {path}: {exc.strerror}") from exc

    async def ping(self) -> None:
        await asyncio.to_thread(self._ping)

    async def close(self) -> None:
        pass

    def _ping(self) -> None:
        try:
            self._tmp.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=self._tmp, prefix="ping-")
            os.close(fd)
            os.unlink(name)
        except OSError as exc:
            raise BlobStoreUnavailable(
                f"blob folder {self.root} is not writable: {exc.strerror or exc}"
            ) from exc

    def _put_bytes(self, data: bytes) -> BlobRef:
        sha = hashlib.sha256(data).hexdigest()
        if self.path_of(sha).is_file():
            return BlobRef(sha, len(data), created=False)
        pending = _PendingFile(self)
        try:
            pending.write(data)
            return pending.commit()
        except BaseException:
            pending.abort()
            raise

    def _put_file_object(self, source: BinaryIO) -> BlobRef:
        pending = _PendingFile(self)
        try:
            while chunk := source.read(CHUNK_SIZE):
                pending.write(chunk)
            return pending.commit()
        except BaseException:
            pending.abort()
            raise

    async def _put_stream(self, source: AsyncIterable[bytes]) -> BlobRef:
        pending = await asyncio.to_thread(_PendingFile, self)
        try:
            # Gather small network chunks into CHUNK_SIZE pieces: one thread hop per MiB, not per packet.
            buffer = bytearray()
            async for chunk in source:
                buffer += chunk
                if len(buffer) >= CHUNK_SIZE:
                    await asyncio.to_thread(pending.write, bytes(buffer))
                    buffer.clear()
            if buffer:
                await asyncio.to_thread(pending.write, bytes(buffer))
            return await asyncio.to_thread(pending.commit)
        except BaseException:
            await asyncio.to_thread(pending.abort)
            raise


class _PendingFile:
    """A temporary file being filled and hashed; commit() moves it to its content address."""

    def __init__(self, store: FilesystemBlobStore) -> None:
        self._store = store
        try:
            store._tmp.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=store._tmp, prefix="put-")
        except OSError as exc:
            raise self._unavailable(exc) from exc
        self._path = Path(name)
        self._file = os.fdopen(fd, "wb")
        self._digest = hashlib.sha256()
        self._size = 0

    def write(self, chunk: bytes) -> None:
        self._digest.update(chunk)
        self._size += len(chunk)
        try:
            self._file.write(chunk)
        except OSError as exc:
            raise self._unavailable(exc) from exc

    def commit(self) -> BlobRef:
        sha = self._digest.hexdigest()
        final = self._store.path_of(sha)
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.chmod(self._path, 0o444)  # blobs are immutable; say so to anyone with a shell
            _make_dirs_durably(final.parent, self._store.root)
            created = _link_unless_present(self._path, final)
            if created:
                _fsync_dir(final.parent)
        except OSError as exc:
            raise self._unavailable(exc) from exc
        finally:
            self._path.unlink(missing_ok=True)
        return BlobRef(sha, self._size, created)

    def abort(self) -> None:
        self._file.close()
        self._path.unlink(missing_ok=True)

    def _unavailable(self, exc: OSError) -> BlobStoreUnavailable:
        return BlobStoreUnavailable(
            f"cannot write to blob folder {self._store.root}: {exc.strerror or exc}"
        )


def _read_hashing(f: BinaryIO, verifier: Verifier) -> bytes:
    chunk = f.read(CHUNK_SIZE)
    verifier.update(chunk)
    return chunk


def _link_unless_present(source: Path, target: Path) -> bool:
    """Put `source` at `target` unless a blob is already there; True when we put it."""
    try:
        os.link(source, target)
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
    if target.exists():
        return False
    # Without hard links two puts may both rename; both files hold the same bytes, so either wins.
    os.replace(source, target)
    return True


def _make_dirs_durably(path: Path, root: Path) -> None:
    """Create the fan-out folders and fsync each parent, so a crash cannot lose a blob's folder."""
    missing = []
    while path != root and not path.is_dir():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        folder.mkdir(parents=True, exist_ok=True)
        _fsync_dir(folder.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
