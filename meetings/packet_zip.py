"""The packet as one ZIP, streamed: `manifest.json` (the caller's sealed manifest), `index.html`
and each paper at its manifest `path`. Entries are stored, not deflated (papers are PDFs, already
compressed), each paper's CRC-32 known before its bytes (taken when the hub checked the stored file
against its SHA-256), so the ZIP's length is known up front and the papers' bytes go from the blob
files to the socket by `sendfile`: a packet of any size, to any number of members at once, passes
through no Python buffer. ZIP64 where sizes need it; any ZIP reader opens it.

`verify()` is the offline check behind `axis meeting verify-packet`."""

from __future__ import annotations

import hashlib
import json
import struct
import zipfile
import zlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

from signing.errors import SignatureError
from signing.seal import verify_sealed_json

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=True,
)


# The records of APPNOTE.TXT (PKWARE's ZIP specification), as little-endian struct formats.
CENTRAL_DIR = struct.Struct("<4s4B4HL2L5H2L")  # 4.3.12 central directory file header
END_ZIP64 = struct.Struct("<4sQ2H2L4Q")  # 4.3.14 zip64 end of central directory record
END_ZIP64_LOCATOR = struct.Struct("<4sLQL")  # 4.3.15 zip64 end of central directory locator
END = struct.Struct("<4s4H2LH")  # 4.3.16 end of central directory record
ZIP64_LIMIT = (1 << 31) - 1  # as zipfile: past this a size or an offset is written as ZIP64
ZIP64_VERSION = 45


class StoredZip:
    """A ZIP of stored (uncompressed) entries whose sizes and CRC-32s are known before their bytes.

    Each entry's local header carries its CRC-32 and sizes (no data descriptor), so the archive's
    length is known before a byte is sent (the response has a Content-Length) and an entry's bytes
    can go from the file to the socket without passing through Python (`sendfile`). Names are UTF-8
    (flag 0x800); ZIP64 fields are written where a size, an offset or the count needs them, as
    APPNOTE 6.3 describes; `zip64_at` lowers that threshold for tests."""

    def __init__(self, when: datetime, *, zip64_at: int = ZIP64_LIMIT) -> None:
        self.when = when
        self.zip64_at = zip64_at
        self.offset = 0
        self._entries: list[zipfile.ZipInfo] = []

    def header(self, path: str, size: int, crc32: int) -> bytes:
        """The local header of the next entry; its `size` bytes must follow it."""
        info = entry(path, size, self.when)
        info.CRC = crc32
        info.compress_size = size
        info.header_offset = self.offset
        head = info.FileHeader(zip64=size >= self.zip64_at)
        self._entries.append(info)
        self.offset += len(head) + size
        return head

    def small(self, path: str, data: bytes) -> bytes:
        """A whole entry (header and bytes) for data held in memory."""
        return self.header(path, len(data), zlib.crc32(data)) + data

    def central_directory(self) -> bytes:
        """The central directory and end records; call once, after the last entry."""
        start = self.offset
        out = bytearray()
        for info in self._entries:
            fields = []
            size = info.file_size
            if size >= self.zip64_at:
                fields += [size, size]
                size = 0xFFFFFFFF
            offset = info.header_offset
            if offset >= self.zip64_at:
                fields.append(offset)
                offset = 0xFFFFFFFF
            extra = (
                struct.pack(f"<HH{len(fields)}Q", 1, 8 * len(fields), *fields) if fields else b""
            )
            version = max(info.extract_version, ZIP64_VERSION if fields else 0)
            # As the local header: ASCII names as they are, others UTF-8 with flag bit 11.
            flags = info.flag_bits
            name = info.filename.encode("utf-8")
            if not info.filename.isascii():
                flags |= 0x800
            dt = info.date_time
            dosdate = (dt[0] - 1980) << 9 | dt[1] << 5 | dt[2]
            dostime = dt[3] << 11 | dt[4] << 5 | (dt[5] // 2)
            out += CENTRAL_DIR.pack(
                b"PK\x01\x02",
                max(info.create_version, version), info.create_system, version, 0,
                flags, zipfile.ZIP_STORED, dostime, dosdate, info.CRC, size, size,
                len(name), len(extra), 0, 0, 0, info.external_attr, offset,
            )  # fmt: skip
            out += name + extra
        count, cd_size, cd_offset = len(self._entries), len(out), start
        if count >= 0xFFFF or cd_size >= self.zip64_at or cd_offset >= self.zip64_at:
            end64_at = start + cd_size
            out += END_ZIP64.pack(
                b"PK\x06\x06",
                44, 45, 45, 0, 0, count, count, cd_size, cd_offset,
            )  # fmt: skip
            out += END_ZIP64_LOCATOR.pack(
                b"PK\x06\x07",
                0, end64_at, 1,
            )  # fmt: skip
            count = min(count, 0xFFFF)
            cd_size = min(cd_size, 0xFFFFFFFF)
            cd_offset = 0xFFFFFFFF
        out += END.pack(
            b"PK\x05\x06",
            0, 0, count, count, cd_size, cd_offset, 0,
        )  # fmt: skip
        self.offset += len(out)
        return bytes(out)


def index_html(payload: dict[str, Any], missing: set[str]) -> bytes:
    template = _TEMPLATES.get_template("packet_index.html")
    return template.render(m=payload, missing=missing).encode("utf-8")


def papers_of(payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for item in payload.get("items", []):
        yield from item.get("papers", [])


def entry(path: str, size: int, when: datetime) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(path, date_time=when.timetuple()[:6])
    info.compress_type = zipfile.ZIP_STORED
    info.file_size = size  # lets zipfile choose ZIP64 up front for large papers
    info.external_attr = 0o644 << 16
    return info


# ---------------------------------------------------------------- offline check


class PacketProblem(Exception):
    """The first thing wrong with a packet file."""


def verify(zip_path: Path, seal_cert: Any) -> dict[str, Any]:
    """Check the seal on manifest.json and the SHA-256 and size of every paper it lists; returns a
    summary, or raises PacketProblem naming the first problem."""
    try:
        archive = zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise PacketProblem(f"{zip_path}: not a readable ZIP file ({exc})") from None
    with archive:
        names = set(archive.namelist())
        if "manifest.json" not in names:
            raise PacketProblem("manifest.json: missing from the packet")
        try:
            sealed = json.loads(archive.read("manifest.json"))
        except (ValueError, zipfile.BadZipFile) as exc:
            raise PacketProblem(f"manifest.json: not JSON ({exc})") from None
        if not isinstance(sealed, dict):
            raise PacketProblem("manifest.json: not a sealed JSON object")
        try:
            payload = verify_sealed_json(sealed, seal_cert)
        except SignatureError as exc:
            raise PacketProblem(f"manifest.json: the seal does not verify: {exc.message}") from None
        if payload.get("type") != "axis.cabinet.packet":
            raise PacketProblem(
                f"manifest.json: type is {payload.get('type')!r}, not axis.cabinet.packet"
            )
        checked = 0
        total = 0
        for paper in papers_of(payload):
            path = paper.get("path")
            if not isinstance(path, str) or path not in names:
                raise PacketProblem(f"{path}: listed in the manifest but missing from the packet")
            digest = hashlib.sha256()
            size = 0
            try:
                with archive.open(path) as f:
                    for chunk in iter(lambda f=f: f.read(1 << 20), b""):  # type: ignore[misc]
                        digest.update(chunk)
                        size += len(chunk)
            except (zipfile.BadZipFile, OSError) as exc:
                raise PacketProblem(f"{path}: unreadable ({exc})") from None
            if digest.hexdigest() != paper.get("sha256"):
                raise PacketProblem(
                    f"{path}: SHA-256 is {digest.hexdigest()}, the manifest says {paper.get('sha256')}"
                )
            if size != paper.get("size"):
                raise PacketProblem(f"{path}: {size} bytes, the manifest says {paper.get('size')}")
            checked += 1
            total += size
        return {
            "meeting_id": payload["meeting_id"],
            "packet_version": payload["packet_version"],
            "for": payload["for"],
            "papers": checked,
            "bytes": total,
            "ok": True,
        }
