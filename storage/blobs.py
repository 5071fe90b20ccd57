"""A content-addressed blob store: bytes go in, their SHA-256 comes out, and reads check it again.

`open_blob_store(url)` picks the backend: the filesystem (`file:///path`, the default) or S3/MinIO
(`s3://access:secret@host:port/bucket`); both keep the contract that tests/storage/test_blobs.py checks.
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

#: Size of the pieces blobs are read, written and hashed in; big enough to keep thread hops rare.
CHUNK_SIZE = 1024 * 1024

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class BlobRef:
    """Where a put left the bytes: their hash, their length, and whether this put stored them."""

    sha256: str
    size: int
    created: bool  # False when the same bytes were already stored (dedup)


class BlobError(Exception):
    """Base of the blob store's errors; `code` is for machines, the message for people."""

    code = "blob_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BlobNotFound(BlobError):
    code = "blob_not_found"

    def __init__(self, sha256: str, why: str = "no blob has this hash") -> None:
        super().__init__(f"blob {sha256}: {why}")
        self.sha256 = sha256


class BlobCorrupt(BlobError):
    """The stored bytes no longer hash to the blob's name (disk rot, tampering, a bad copy)."""

    code = "blob_corrupt"

    def __init__(self, sha256: str, found: str, size: int) -> None:
        super().__init__(
            f"blob {sha256} is corrupt: its stored {size} bytes hash to {found} instead"
        )
        self.sha256 = sha256
        self.found = found
        self.size = size


class BlobStoreUnavailable(BlobError):
    """The store cannot be reached or written right now; `reason` says why (shown by /readyz)."""

    code = "blob_store_unavailable"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


BlobSource = bytes | AsyncIterable[bytes] | BinaryIO


class BlobStore(Protocol):
    async def put(self, data: BlobSource) -> BlobRef:
        """Store bytes given whole, as an async stream of chunks, or as a binary file object."""
        ...

    async def put_file(self, path: Path) -> BlobRef: ...

    def open(self, sha256: str, *, verify: bool = True) -> AsyncIterator[bytes]:
        """Stream a blob in chunks; with verify, BlobCorrupt comes before the last chunk."""
        ...

    async def read(self, sha256: str) -> bytes:
        """A whole (small) blob, verified."""
        ...

    async def exists(self, sha256: str) -> bool: ...

    async def size(self, sha256: str) -> int: ...

    async def delete(self, sha256: str) -> None:
        """Remove a blob; removing one that is not there is not an error."""
        ...

    async def ping(self) -> None:
        """Raise BlobStoreUnavailable unless the store can be written now."""
        ...

    async def close(self) -> None: ...


def check_sha256(sha256: str) -> str:
    """The hash in canonical (lower-case) form; anything else cannot name a blob."""
    canonical = sha256.lower()
    if not _SHA256_HEX.fullmatch(canonical):
        raise BlobNotFound(sha256, "not a SHA-256 hex digest")
    return canonical


class Verifier:
    """Hashes bytes as they stream past and says whether they still match the expected hash."""

    def __init__(self, sha256: str) -> None:
        self.expected = sha256
        self.digest = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self.digest.update(chunk)
        self.size += len(chunk)

    def check(self) -> None:
        found = self.digest.hexdigest()
        if found != self.expected:
            raise BlobCorrupt(self.expected, found, self.size)


def open_blob_store(url: str) -> BlobStore:
    """A store for `file:///abs/path`, `s3://key:secret@host:port/bucket` (plain HTTP, as on a
    local MinIO) or `s3+https://...` (TLS). An S3 URL may end in `?region=...`."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"blob URL {url!r}: a file:// URL names a local folder, not a host")
        path = Path(urllib.parse.unquote(parts.path))
        if not path.is_absolute():
            raise ValueError(
                f"blob URL {url!r}: the folder must be absolute, e.g. file:///srv/blobs"
            )
        from storage.blobs_fs import FilesystemBlobStore

        return FilesystemBlobStore(path)
    if parts.scheme in ("s3", "s3+http", "s3+https"):
        bucket = parts.path.strip("/")
        if not (parts.hostname and parts.username and parts.password and bucket):
            raise ValueError("blob URL must be s3://access:secret@host:port/bucket")
        if "/" in bucket:
            raise ValueError(f"blob URL {url!r}: the path must be one bucket name")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        endpoint = host if parts.port is None else f"{host}:{parts.port}"
        query = urllib.parse.parse_qs(parts.query)
        from storage.blobs_s3 import S3BlobStore

        return S3BlobStore(
            endpoint=endpoint,
            access_key=urllib.parse.unquote(parts.username),
            secret_key=urllib.parse.unquote(parts.password),
            bucket=bucket,
            secure=parts.scheme == "s3+https",
            region=query.get("region", ["us-east-1"])[0],
        )
    raise ValueError(f"blob URL {url!r} must start with file://, s3:// or s3+https://")
