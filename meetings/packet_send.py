"""The papers' bytes for packet ZIPs: each paper's CRC-32 before its bytes, and the bytes sent the
cheapest way the blob store allows.

With the filesystem store, a paper's file is checked against its SHA-256 once per hub process
(storage.checked_files) and then handed to the kernel for every member who downloads it
(`loop.sendfile`; over TLS asyncio falls back to reading and writing). With another store (S3), the
CRC-32 is taken by one verified read and remembered by SHA-256, and every download streams the
verified bytes as any blob read does."""

from __future__ import annotations

import asyncio
import weakref
import zlib

from aiohttp import web

from storage.blobs import BlobCorrupt, BlobStore
from storage.blobs_fs import FilesystemBlobStore
from storage.checked_files import CheckedFiles

#: CRC-32s remembered per process for stores without local files (a blob's CRC follows from its hash).
MAX_CRCS = 100_000


class PaperBytes:
    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs
        self.files = CheckedFiles(blobs) if isinstance(blobs, FilesystemBlobStore) else None
        self._crcs: dict[str, int] = {}

    async def crc32(self, sha256: str, size: int) -> int:
        if self.files is not None:
            found, crc = await self.files.crc32(sha256)
        else:
            cached = self._crcs.get(sha256)
            if cached is not None:
                return cached
            crc, found = 0, 0
            async for chunk in self.blobs.open(sha256):
                crc = zlib.crc32(chunk, crc)
                found += len(chunk)
            self._crcs[sha256] = crc
            while len(self._crcs) > MAX_CRCS:
                self._crcs.pop(next(iter(self._crcs)))
        if found != size:
            raise BlobCorrupt(sha256, f"a file of {found} bytes, not {size}", found)
        return crc

    async def send(
        self,
        request: web.Request,
        response: web.StreamResponse,
        sha256: str,
        size: int,
        crc32: int,
    ) -> None:
        """Write the paper's `size` bytes to the response, which announced `crc32` for them."""
        if self.files is None:
            async for chunk in self.blobs.open(sha256):
                await response.write(chunk)
            return
        checked = await self.files.open(sha256)
        try:
            if checked.crc32 != crc32 or checked.size != size:
                # Replaced since the headers went out by a file with other bytes under the same name.
                raise BlobCorrupt(
                    sha256, "a file that changed while it was being sent", checked.size
                )
            transport = request.transport
            if transport is None or transport.is_closing():
                raise ConnectionResetError("the member's connection closed during the download")
            await asyncio.get_running_loop().sendfile(transport, checked.file, 0, size)
        finally:
            checked.file.close()


_SOURCES: weakref.WeakKeyDictionary[BlobStore, PaperBytes] = weakref.WeakKeyDictionary()


def paper_bytes(blobs: BlobStore) -> PaperBytes:
    """The one PaperBytes of this hub process's blob store (its checks are shared by every download)."""
    source = _SOURCES.get(blobs)
    if source is None:
        source = _SOURCES[blobs] = PaperBytes(blobs)
    return source
