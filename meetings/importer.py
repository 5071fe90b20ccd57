"""`axis meeting import DIR`: a meeting's agenda and papers prepared as files, made into a draft
meeting through the same service functions as the API.

DIR holds `agenda.json` and the papers' files:

    {"title": "…", "kind": "regular", "starts_at": "2026-06-01T09:00:00+07:00", "place": "…",
     "invitees": ["thutuong", "botaichinh"],                       # logins of members
     "items": [{"title": "…", "presenter": "…",
                "papers": [{"title": "…", "file": "to-trinh.pdf",   # relative to DIR
                            "content_type": "application/pdf",      # optional
                            "confidential": false,                  # optional
                            "audience": null or ["botaichinh"]}]}]} # logins; null = everyone

Everything is checked before anything is written; the meeting, its items and papers are then made
in one transaction, so a problem found late (by the services) still leaves nothing. Files are
streamed into the blob store first: a stored file nothing names is a harmless blob."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import asyncpg

from meetings import axis_port as ax
from meetings import files, people, service
from meetings.people import Person
from storage.blobs import open_blob_store

CHUNK = 1 << 20
PAPER_KEYS = {"title", "file", "content_type", "confidential", "audience"}
ITEM_KEYS = {"title", "presenter", "papers"}
MEETING_KEYS = {"title", "kind", "starts_at", "place", "invitees", "items"}


class ImportProblem(Exception):
    """What is wrong, naming the field (e.g. items[1].papers[0].file) or the line of agenda.json."""


@dataclass
class Paper:
    where: str
    body: dict[str, Any]
    path: Path
    audience: list[str] | None


def _check_keys(value: object, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ImportProblem(f"{where or 'agenda.json'} must be a JSON object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        name = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ImportProblem(f"{name}: unknown field (allowed: {', '.join(sorted(allowed))})")
    return value


def _logins(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ImportProblem(f"{where} must be a non-empty list of logins")
    return list(value)


def read_agenda(folder: Path) -> tuple[dict[str, Any], list[tuple[dict[str, Any], list[Paper]]]]:
    """The meeting's fields and its items with their papers, every file checked to exist."""
    source = folder / "agenda.json"
    if not source.is_file():
        raise ImportProblem(f"{folder} holds no agenda.json")
    try:
        agenda = json.loads(source.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ImportProblem("agenda.json is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ImportProblem(
            f"agenda.json line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    agenda = _check_keys(agenda, MEETING_KEYS, "")
    meeting = {k: agenda.get(k) for k in ("title", "kind", "starts_at", "place")}
    meeting["invitees"] = _logins(agenda.get("invitees"), "invitees")
    items = agenda.get("items", [])
    if not isinstance(items, list):
        raise ImportProblem("items must be a list")
    root = folder.resolve()
    out: list[tuple[dict[str, Any], list[Paper]]] = []
    for n, raw in enumerate(items):
        where = f"items[{n}]"
        item = _check_keys(raw, ITEM_KEYS, where)
        papers_raw = item.get("papers", [])
        if not isinstance(papers_raw, list):
            raise ImportProblem(f"{where}.papers must be a list")
        papers = []
        for m, praw in enumerate(papers_raw):
            pwhere = f"{where}.papers[{m}]"
            paper = _check_keys(praw, PAPER_KEYS, pwhere)
            name = paper.get("file")
            if not isinstance(name, str) or not name:
                raise ImportProblem(f"{pwhere}.file must name a file in {folder}")
            path = (root / name).resolve()
            if not path.is_relative_to(root):
                raise ImportProblem(f"{pwhere}.file: {name!r} is outside {folder}")
            if not path.is_file():
                raise ImportProblem(f"{pwhere}.file: no file {name!r} in {folder}")
            audience = paper.get("audience")
            body = {
                "title": paper.get("title"),
                "name": path.name,
                "content_type": paper.get("content_type"),
                "confidential": paper.get("confidential", False),
            }
            papers.append(
                Paper(
                    pwhere,
                    body,
                    path,
                    None if audience is None else _logins(audience, f"{pwhere}.audience"),
                )
            )
        out.append(({"title": item.get("title"), "presenter": item.get("presenter")}, papers))
    return meeting, out


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            yield chunk


async def import_meeting(
    conn: asyncpg.Connection, blob_url: str, folder: Path, by_login: str
) -> dict[str, Any]:
    """Make the draft meeting of `folder` as the secretariat person `by_login`; return it."""
    meeting, items = read_agenda(folder)
    try:
        by = await people.by_login(conn, by_login)
    except ax.NotFound:
        raise ImportProblem(f"--as: no cabinet person {by_login!r}") from None
    if not by.secretariat:
        raise ImportProblem(f"--as: {by_login} is a {by.kind}; the secretariat imports meetings")
    known = {p.login: p for p in await people.list_all(conn)}

    def ids(logins: list[str], where: str) -> list[str]:
        found = []
        for n, login in enumerate(logins):
            if login not in known:
                raise ImportProblem(f"{where}[{n}]: no cabinet person {login!r}")
            found.append(str(known[login].id))
        return found

    meeting["invitees"] = ids(meeting["invitees"], "invitees")
    for _, papers in items:
        for paper in papers:
            if paper.audience is not None:
                paper.body["audience"] = ids(paper.audience, f"{paper.where}.audience")
            else:
                paper.body["audience"] = None

    blobs = open_blob_store(blob_url)
    try:
        for _, papers in items:
            for paper in papers:
                ref = await blobs.put(_chunks(paper.path))
                if ref.size == 0:
                    raise ImportProblem(f"{paper.where}.file: {paper.path.name} is empty")
                paper.body["file_sha256"] = ref.sha256
                paper.body["size"] = ref.size
    finally:
        await blobs.close()
    return await _create(conn, by, meeting, items)


async def _create(
    conn: asyncpg.Connection,
    by: Person,
    meeting: dict[str, Any],
    items: list[tuple[dict[str, Any], list[Paper]]],
) -> dict[str, Any]:
    # Only uploaded files are named (no letters), so the services never reach for the hub.
    no_hub = cast(ax.Hub, None)
    where = ""
    try:
        async with conn.transaction():  # the services' own transactions nest as savepoints
            made = await service.create_meeting(conn, by, meeting)
            for n, (item, papers) in enumerate(items):
                where = f"items[{n}]"
                added = await service.add_item(conn, by, made["id"], item)
                for paper in papers:
                    where = paper.where
                    await files.register(
                        conn, paper.body["file_sha256"], paper.body.pop("size"), by.id
                    )
                    await service.add_paper(conn, no_hub, by, made["id"], added["id"], paper.body)
            return await service.get_meeting(conn, by, made["id"])
    except ax.AxisError as exc:
        field = f"{where}.{exc.where}" if where and exc.where else (exc.where or where)
        raise ImportProblem(f"{field}: {exc.message}" if field else exc.message) from None
