"""The packet as one ZIP, streamed: `manifest.json` (the caller's sealed manifest), `index.html`
and each paper at its manifest `path`. Written by the standard library's zipfile into a sink that
is drained to the HTTP response after every chunk, so a packet of any size passes through a few
megabytes of memory. Entries are stored, not deflated (papers are PDFs, already compressed), with
ZIP64 and data descriptors as needed; any ZIP reader opens it.

`verify()` is the offline check behind `axis meeting verify-packet`."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
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


class Sink(io.RawIOBase):
    """A write-only, unseekable file: zipfile writes into it, the handler takes what was written."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


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
