"""The papers' bytes for packet ZIPs: each paper's CRC-32 before its bytes, and the bytes sent the
cheapest way the blob store allows.

With the filesystem store, a paper's file is checked against its SHA-256 once per hub process
(storage.checked_files) and then handed to the kernel for every member who downloads it
(`loop.sendfile`; over TLS asyncio falls back to reading and writing, and on an event loop without
sendfile, uvloop's, the checked file is read and written on without hashing it again). With another store (S3), the
CRC-32 is taken by one verified read and remembered by SHA-256, and every download streams the
verified bytes as any blob read does."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import select
import weakref
import zlib
from typing import BinaryIO

from aiohttp import web

from storage.blobs import CHUNK_SIZE, BlobCorrupt, BlobStore
from storage.blobs_fs import FilesystemBlobStore
from storage.checked_files import CheckedFiles

#: How long a member's connection may take no bytes before the download is given up.
SEND_STALL_SECONDS = 60.0
#: Downloads sent at once by the kernel's sendfile from threads (on loops without loop.sendfile).
SENDERS = 64
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
            try:
                await asyncio.get_running_loop().sendfile(transport, checked.file, 0, size)
            except NotImplementedError:
                # An event loop without sendfile (uvloop): the kernel's sendfile from a thread, on
                # the socket, once everything written before has left; else read and written on.
                await response.drain()
                sock = transport.get_extra_info("socket")
                if sock is None or transport.get_write_buffer_size() or not hasattr(os, "sendfile"):
                    await _copy(checked.file, size, response)
                else:
                    await asyncio.get_running_loop().run_in_executor(
                        _senders(), _sendfile, sock.fileno(), checked.file, size
                    )
        finally:
            checked.file.close()


async def _copy(file: BinaryIO, size: int, response: web.StreamResponse) -> None:
    file.seek(0)
    left = size
    while left > 0:
        chunk = await asyncio.to_thread(file.read, min(CHUNK_SIZE, left))
        if not chunk:
            raise BlobCorrupt("?", f"a file shorter than its {size} bytes", size - left)
        await response.write(chunk)
        left -= len(chunk)


_SOURCES: weakref.WeakKeyDictionary[BlobStore, PaperBytes] = weakref.WeakKeyDictionary()


def paper_bytes(blobs: BlobStore) -> PaperBytes:
    """The one PaperBytes of this hub process's blob store (its checks are shared by every download)."""
    source = _SOURCES.get(blobs)
    if source is None:
        source = _SOURCES[blobs] = PaperBytes(blobs)
    return source


@functools.cache
def _senders() -> concurrent.futures.ThreadPoolExecutor:
    """Threads that only wait on the kernel (sendfile, select): one per download at once, up to
    SENDERS, rather than the few of the default executor, which would queue members' downloads."""
    return concurrent.futures.ThreadPoolExecutor(SENDERS, thread_name_prefix="packet-sendfile")


def _sendfile(out_fd: int, file: BinaryIO, size: int) -> None:
    """`size` bytes of `file` to the (non-blocking) socket `out_fd`, waiting while it is full."""
    offset = 0
    while offset < size:
        try:
            sent = os.sendfile(out_fd, file.fileno(), offset, size - offset)
        except BlockingIOError:
            sent = -1
        if sent == 0:
            raise BlobCorrupt("?", f"a file shorter than its {size} bytes", offset)
        if sent < 0:
            _, writable, _ = select.select([], [out_fd], [], SEND_STALL_SECONDS)
            if not writable:
                raise ConnectionResetError("the member's connection took nothing for a minute")
            continue
        offset += sent
