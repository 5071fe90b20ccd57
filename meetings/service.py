"""Meetings, their agenda items and papers, packets with sealed per-person manifests, reads,
attendance, quorum, take-back and closing. Records in PostgreSQL, bytes in the blob store.

Who sees what: the secretariat sees every meeting. A member sees a meeting they are invited to,
and a deputy one where an invited member named them as stand-in, once a packet is sent; each sees
only what the latest sent packet holds for them (a paper's audience is null = every invitee, or a
list of invitees; a stand-in reads what their member reads)."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from meetings import axis_port as ax
from meetings import files, notices, people, rules
from meetings.people import Person
from signing.seal import canonical_json


class NoticePeriod(ax.Conflict):
    code = "notice_period"


class NoChange(ax.Conflict):
    code = "no_change"


class TakenBack(ax.Gone):
    code = "taken_back"


# ---------------------------------------------------------------- small checks


def _control(text: str, where: str, *, lines: bool) -> None:
    """No control characters (tabs and line breaks only where text may run over lines)."""
    allowed = {"\n", "\r", "\t"} if lines else set()
    for n, char in enumerate(text):
        if (ord(char) < 32 or 0x7F <= ord(char) < 0xA0) and char not in allowed:
            raise ax.BadRequest(
                f"{where} holds a control character (U+{ord(char):04X}) at position {n}",
                where=where,
            )


def text(
    value: object, where: str, *, limit: int = 1000, lines: bool = False, required: bool = True
) -> str | None:
    """A text field, stripped: non-empty when required, at most `limit` characters, no control
    character (line breaks and tabs only when `lines`); a 400 naming `where` otherwise."""
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ax.BadRequest(f"{where} is required: non-empty text", where=where)
    if len(value) > limit:
        raise ax.BadRequest(f"{where} is longer than {limit} characters", where=where)
    _control(value, where, lines=lines)
    return value.strip()


def _text(
    body: dict[str, Any], key: str, *, required: bool = True, limit: int = 1000
) -> str | None:
    return text(body.get(key), key, limit=limit, lines=True, required=required)


def _flag(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise ax.BadRequest(f"{key} must be true or false", where=key)
    return value


def _when(value: object, where: str) -> datetime:
    if not isinstance(value, str):
        raise ax.BadRequest(f"{where} must be an ISO 8601 time with its offset", where=where)
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise ax.BadRequest(f"{where}: {value!r} is not an ISO 8601 time", where=where) from None
    if at.tzinfo is None:
        raise ax.BadRequest(f"{where} needs an offset, e.g. +07:00", where=where)
    return at


def _id(value: object, where: str) -> uuid.UUID:
    return ax.parse_uuid(value, where)


def _path_id(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ax.NotFound(f"no {what} {value[:60]!r}", where=what) from None


_UNSAFE = re.compile(r"[^\w.\-]+", re.UNICODE)


def paper_path(paper_id: uuid.UUID | str, version: int, name: str) -> str:
    safe = _UNSAFE.sub("_", name).strip("._") or "paper"
    return f"papers/{paper_id}/v{version}/{safe[:120]}"


# ---------------------------------------------------------------- who sees what


@dataclass(frozen=True)
class Viewer:
    person: Person
    #: The invitees whose papers this person reads: themselves, or the members they stand in for.
    as_ids: frozenset[uuid.UUID]

    @property
    def secretariat(self) -> bool:
        return self.person.secretariat

    def may_see(self, audience: list[uuid.UUID] | None) -> bool:
        return self.secretariat or audience is None or bool(self.as_ids & set(audience))


_MEETING = "SELECT * FROM meetings WHERE id = $1"
_MEETING_FOR_UPDATE = "SELECT * FROM meetings WHERE id = $1 FOR UPDATE"


async def _meeting_row(
    conn: asyncpg.Connection, meeting_id: str, lock: bool = False
) -> asyncpg.Record:
    query = _MEETING_FOR_UPDATE if lock else _MEETING
    row = await conn.fetchrow(query, _path_id(meeting_id, "meeting"))
    if row is None:
        raise ax.NotFound(f"no meeting {meeting_id}", where="meeting")
    return row


async def viewer(conn: asyncpg.Connection, person: Person, meeting: asyncpg.Record) -> Viewer:
    """The person as they see this meeting; 404 (as for another agency's letter) when they may not."""
    if person.secretariat:
        return Viewer(person, frozenset())
    rows = await conn.fetch(
        "SELECT person_id, stand_in FROM meeting_invitees WHERE meeting_id = $1 AND (person_id = $2 OR stand_in = $2)",
        meeting["id"],
        person.id,
    )
    as_ids = {r["person_id"] for r in rows}
    if not as_ids or meeting["state"] == "draft":
        raise ax.NotFound(f"no meeting {meeting['id']}", where="meeting")
    return Viewer(person, frozenset(as_ids))


def secretariat_only(person: Person) -> None:
    if not person.secretariat:
        raise ax.Forbidden("only the secretariat (Government Office) may do this", where="person")


# ---------------------------------------------------------------- reading a meeting


async def _latest_packet(conn: asyncpg.Connection, meeting_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM meeting_packets WHERE meeting_id = $1 ORDER BY packet_version DESC LIMIT 1",
        meeting_id,
    )


async def _papers(conn: asyncpg.Connection, meeting_id: uuid.UUID) -> list[asyncpg.Record]:
    """Every paper of the meeting with every version (newest first within a paper)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT p.id, p.item_id, p.title, p.confidential, p.audience, p.taken_back_at,
                  v.version, v.sha256, v.size, v.name, v.content_type
             FROM meeting_papers p JOIN paper_versions v ON v.paper_id = p.id
            WHERE p.meeting_id = $1 ORDER BY p.created_at, p.id, v.version DESC""",
        meeting_id,
    )
    return rows


def _paper_json(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "title": row["title"],
        "version": row["version"],
        "sha256": row["sha256"],
        "size": row["size"],
        "name": row["name"],
        "content_type": row["content_type"],
        "confidential": row["confidential"],
        "audience": None if row["audience"] is None else [str(a) for a in row["audience"]],
        "state": "taken_back" if row["taken_back_at"] is not None else "available",
    }


async def _visible(
    conn: asyncpg.Connection, meeting: asyncpg.Record, who: Viewer
) -> tuple[list[asyncpg.Record], dict[uuid.UUID, asyncpg.Record]]:
    """The agenda items and, per paper id, the version row this viewer sees."""
    items = await conn.fetch(
        "SELECT id, title, presenter, position FROM meeting_items WHERE meeting_id = $1 ORDER BY position",
        meeting["id"],
    )
    rows = await _papers(conn, meeting["id"])
    shown: dict[uuid.UUID, asyncpg.Record] = {}
    if who.secretariat:
        for row in rows:
            shown.setdefault(row["id"], row)  # the newest version, sent or not
        return list(items), shown
    packet = await _latest_packet(conn, meeting["id"])
    if packet is None:
        return [], {}
    contents = json.loads(packet["contents"])
    sent = {uuid.UUID(p["paper_id"]): p["version"] for p in contents["papers"]}
    for row in rows:
        if sent.get(row["id"]) == row["version"] and who.may_see(row["audience"]):
            shown[row["id"]] = row
    in_packet = set(contents["items"])
    return [i for i in items if str(i["id"]) in in_packet], shown


async def _quorum(conn: asyncpg.Connection, meeting: asyncpg.Record) -> dict[str, Any]:
    version = await rules.version(conn, meeting["rules_version"])
    voting = await conn.fetchval(
        """SELECT count(*) FROM cabinet_people p JOIN users u ON u.id = p.person_id
            WHERE p.votes AND u.active"""
    )
    confirmed = await conn.fetchval(
        """SELECT count(*) FROM meeting_invitees i JOIN cabinet_people p ON p.person_id = i.person_id
            WHERE i.meeting_id = $1 AND i.attendance = 'attending' AND p.votes""",
        meeting["id"],
    )
    required = rules.required(version["rules"], int(voting))
    return {"required": required, "confirmed": int(confirmed), "reached": confirmed >= required > 0}


async def describe(
    conn: asyncpg.Connection, meeting: asyncpg.Record, who: Viewer
) -> dict[str, Any]:
    items, shown = await _visible(conn, meeting, who)
    invitees = await conn.fetch(
        "SELECT person_id, attendance, reason, stand_in FROM meeting_invitees WHERE meeting_id = $1 ORDER BY person_id",
        meeting["id"],
    )
    by_item: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for row in shown.values():
        by_item.setdefault(row["item_id"], []).append(_paper_json(row))
    packet = await _latest_packet(conn, meeting["id"])
    return {
        "id": str(meeting["id"]),
        "title": meeting["title"],
        "kind": meeting["kind"],
        "starts_at": meeting["starts_at"].isoformat(),
        "place": meeting["place"],
        "state": meeting["state"],
        "rules_version": meeting["rules_version"],
        "packet_version": meeting["packet_version"],
        "urgent": bool(packet and packet["urgent"]),
        "urgent_reason": packet["reason"] if packet else None,
        "invitees": [
            {
                "person_id": str(i["person_id"]),
                "attendance": i["attendance"],
                "reason": i["reason"],
                "stand_in": str(i["stand_in"]) if i["stand_in"] else None,
            }
            for i in invitees
        ],
        "quorum": await _quorum(conn, meeting),
        "items": [
            {
                "id": str(i["id"]),
                "title": i["title"],
                "presenter": i["presenter"],
                "papers": by_item.get(i["id"], []),
            }
            for i in items
        ],
    }


async def get_meeting(conn: asyncpg.Connection, person: Person, meeting_id: str) -> dict[str, Any]:
    meeting = await _meeting_row(conn, meeting_id)
    return await describe(conn, meeting, await viewer(conn, person, meeting))


async def list_meetings(conn: asyncpg.Connection, person: Person) -> list[dict[str, Any]]:
    if person.secretariat:
        rows = await conn.fetch("SELECT * FROM meetings ORDER BY starts_at DESC")
    else:
        rows = await conn.fetch(
            """SELECT m.* FROM meetings m WHERE m.state <> 'draft' AND EXISTS
                      (SELECT 1 FROM meeting_invitees i WHERE i.meeting_id = m.id
                          AND (i.person_id = $1 OR i.stand_in = $1))
                ORDER BY m.starts_at DESC""",
            person.id,
        )
    return [await describe(conn, r, await viewer(conn, person, r)) for r in rows]


# ---------------------------------------------------------------- making a meeting


async def create_meeting(
    conn: asyncpg.Connection, person: Person, body: dict[str, Any]
) -> dict[str, Any]:
    secretariat_only(person)
    title = _text(body, "title")
    kind = _text(body, "kind", limit=100)
    place = _text(body, "place")
    starts_at = _when(body.get("starts_at"), "starts_at")
    invitees = body.get("invitees")
    if not isinstance(invitees, list) or not invitees:
        raise ax.BadRequest("invitees must be a non-empty list of person ids", where="invitees")
    ids = [_id(v, f"invitees[{n}]") for n, v in enumerate(invitees)]
    if len(set(ids)) != len(ids):
        raise ax.BadRequest("invitees names a person twice", where="invitees")
    found = await people.many(conn, ids)
    for n, pid in enumerate(ids):
        invited = found.get(pid)
        if invited is None or not invited.active:
            raise ax.BadRequest(
                f"invitees[{n}]: no active cabinet person {pid}", where=f"invitees[{n}]"
            )
        if invited.kind != "member":
            raise ax.BadRequest(
                f"invitees[{n}]: {invited.login} is a {invited.kind}; invite members (deputies stand in through attendance)",
                where=f"invitees[{n}]",
            )
    meeting_id = ax.new_id()
    async with conn.transaction():
        current = await rules.current(conn)
        await conn.execute(
            """INSERT INTO meetings (id, title, kind, starts_at, place, rules_version, created_by)
               VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            meeting_id, title, kind, starts_at, place, current["version"], person.id,
        )  # fmt: skip
        await conn.executemany(
            "INSERT INTO meeting_invitees (meeting_id, person_id) VALUES ($1, $2)",
            [(meeting_id, pid) for pid in ids],
        )
        await ax.audit(
            conn,
            "meeting_created",
            {
                "meeting_id": str(meeting_id),
                "by": str(person.id),
                "invitees": [str(i) for i in ids],
            },
        )
    return await get_meeting(conn, person, str(meeting_id))


async def _open_meeting(
    conn: asyncpg.Connection, person: Person, meeting_id: str
) -> asyncpg.Record:
    secretariat_only(person)
    meeting = await _meeting_row(conn, meeting_id, lock=True)
    if meeting["state"] == "closed":
        raise NoChange(f"meeting {meeting_id} is closed", where="meeting")
    return meeting


async def add_item(
    conn: asyncpg.Connection, person: Person, meeting_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    title = _text(body, "title")
    presenter = _text(body, "presenter", required=False)
    async with conn.transaction():
        meeting = await _open_meeting(conn, person, meeting_id)
        item_id = ax.new_id()
        position = await conn.fetchval(
            "SELECT coalesce(max(position), 0) + 1 FROM meeting_items WHERE meeting_id = $1",
            meeting["id"],
        )
        await conn.execute(
            "INSERT INTO meeting_items (id, meeting_id, position, title, presenter) VALUES ($1, $2, $3, $4, $5)",
            item_id, meeting["id"], position, title, presenter,
        )  # fmt: skip
    return {
        "id": str(item_id),
        "title": title,
        "presenter": presenter,
        "position": position,
        "papers": [],
    }


async def _source(
    conn: asyncpg.Connection, hub: ax.Hub, body: dict[str, Any]
) -> tuple[str, int, str | None, str | None, uuid.UUID | None, str | None]:
    """(sha256, size, name, content_type, document_id, attachment) of a paper's bytes."""
    letter = body.get("from_letter")
    if letter is not None and body.get("file_sha256") is not None:
        raise ax.BadRequest("give file_sha256 or from_letter, not both", where="from_letter")
    if letter is None:
        if body.get("file_sha256") is None:
            raise ax.BadRequest(
                "give file_sha256 (an uploaded file) or from_letter", where="file_sha256"
            )
        sha = str(body["file_sha256"]).lower()
        size = await files.known(conn, body["file_sha256"], "file_sha256")
        return sha, size, None, None, None, None
    if not isinstance(letter, dict):
        raise ax.BadRequest("from_letter must be {document_id, attachment}", where="from_letter")
    document_id, ref = letter.get("document_id"), letter.get("attachment")
    if not isinstance(document_id, str) or not isinstance(ref, (str, int)) or isinstance(ref, bool):
        raise ax.BadRequest(
            "from_letter needs document_id (text) and attachment (its ContentId or position)",
            where="from_letter",
        )
    organ = hub.config.cabinet_organ
    if not organ:
        raise ax.Unprocessable(
            "AXIS_CABINET_ORGAN is not set: the hub does not know the Government Office's agency",
            where="from_letter",
        )
    try:
        row = await ax.letter_attachment(hub, organ, document_id, str(ref))
    except ax.NotFound as exc:
        raise ax.Unprocessable(
            f"no letter {document_id} with attachment {ref!r} sent or received by {organ}: {exc.message}",
            where="from_letter",
        ) from None
    return (
        row["sha256"],
        row["size"],
        row["name"],
        row["content_type"],
        row["document_id"],
        str(ref),
    )


async def _audience(
    conn: asyncpg.Connection, meeting_id: uuid.UUID, value: object
) -> list[uuid.UUID] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise ax.BadRequest(
            "audience is null (every invitee) or a non-empty list of invitee ids", where="audience"
        )
    ids = [_id(v, f"audience[{n}]") for n, v in enumerate(value)]
    invited = {
        r["person_id"]
        for r in await conn.fetch(
            "SELECT person_id FROM meeting_invitees WHERE meeting_id = $1", meeting_id
        )
    }
    for n, pid in enumerate(ids):
        if pid not in invited:
            raise ax.BadRequest(
                f"audience[{n}]: {pid} is not invited to this meeting", where=f"audience[{n}]"
            )
    return sorted(set(ids))


async def add_paper(
    conn: asyncpg.Connection,
    hub: ax.Hub,
    person: Person,
    meeting_id: str,
    item_id: str,
    body: dict[str, Any],
) -> dict[str, Any]:
    title = _text(body, "title")
    confidential = _flag(body, "confidential", False)
    async with conn.transaction():
        meeting = await _open_meeting(conn, person, meeting_id)
        item = await conn.fetchval(
            "SELECT id FROM meeting_items WHERE id = $1 AND meeting_id = $2",
            _path_id(item_id, "item"),
            meeting["id"],
        )
        if item is None:
            raise ax.NotFound(f"meeting {meeting_id} has no item {item_id}", where="item")
        audience = await _audience(conn, meeting["id"], body.get("audience"))
        sha, size, name, content_type, document_id, ref = await _source(conn, hub, body)
        name = _text(body, "name", required=name is None, limit=255) or name
        content_type = (
            _text(body, "content_type", required=False, limit=255)
            or content_type
            or "application/octet-stream"
        )
        paper_id = ax.new_id()
        await conn.execute(
            """INSERT INTO meeting_papers (id, meeting_id, item_id, title, confidential, audience)
               VALUES ($1, $2, $3, $4, $5, $6)""",
            paper_id, meeting["id"], item, title, confidential, audience,
        )  # fmt: skip
        await _insert_version(
            conn, paper_id, 1, sha, size, name or "paper", content_type, None, document_id, ref
        )
        await ax.audit(
            conn,
            "meeting_paper_added",
            {"meeting_id": str(meeting["id"]), "paper_id": str(paper_id), "version": 1, "sha256": sha,
             "from_letter": str(document_id) if document_id else None},
        )  # fmt: skip
    return await _paper(conn, paper_id)


async def _insert_version(
    conn: asyncpg.Connection, paper_id: uuid.UUID, version: int, sha: str, size: int, name: str,
    content_type: str, note: str | None, document_id: uuid.UUID | None, ref: str | None,
) -> None:  # fmt: skip
    await conn.execute(
        """INSERT INTO paper_versions (paper_id, version, sha256, size, name, content_type, note, document_id, attachment)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        paper_id, version, sha, size, name, content_type, note, document_id, ref,
    )  # fmt: skip


async def _paper(conn: asyncpg.Connection, paper_id: uuid.UUID) -> dict[str, Any]:
    row = await conn.fetchrow(
        """SELECT p.id, p.item_id, p.title, p.confidential, p.audience, p.taken_back_at,
                  v.version, v.sha256, v.size, v.name, v.content_type
             FROM meeting_papers p JOIN paper_versions v ON v.paper_id = p.id
            WHERE p.id = $1 ORDER BY v.version DESC LIMIT 1""",
        paper_id,
    )
    return _paper_json(row)


async def _paper_of(
    conn: asyncpg.Connection, meeting: asyncpg.Record, paper_id: str
) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT * FROM meeting_papers WHERE id = $1 AND meeting_id = $2",
        _path_id(paper_id, "paper"),
        meeting["id"],
    )
    if row is None:
        raise ax.NotFound(f"meeting {meeting['id']} has no paper {paper_id}", where="paper")
    return row


async def add_version(
    conn: asyncpg.Connection, person: Person, meeting_id: str, paper_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    name = _text(body, "name", limit=255)
    note = _text(body, "note", required=False)
    content_type = _text(body, "content_type", required=False, limit=255)
    async with conn.transaction():
        meeting = await _open_meeting(conn, person, meeting_id)
        paper = await _paper_of(conn, meeting, paper_id)
        if paper["taken_back_at"] is not None:
            raise TakenBack(f"paper {paper_id} was taken back", where="paper")
        size = await files.known(conn, body.get("file_sha256"), "file_sha256")
        last = await conn.fetchrow(
            "SELECT version, content_type FROM paper_versions WHERE paper_id = $1 ORDER BY version DESC LIMIT 1 FOR UPDATE",
            paper["id"],
        )
        version = last["version"] + 1
        sha = str(body["file_sha256"]).lower()
        await _insert_version(
            conn, paper["id"], version, sha, size, name or "paper", content_type or last["content_type"], note, None, None
        )  # fmt: skip
        await ax.audit(
            conn,
            "meeting_paper_version",
            {
                "meeting_id": str(meeting["id"]),
                "paper_id": str(paper["id"]),
                "version": version,
                "sha256": sha,
            },
        )
    return await _paper(conn, paper["id"])


# ---------------------------------------------------------------- packets and manifests


async def _recipients(
    conn: asyncpg.Connection, meeting_id: uuid.UUID
) -> dict[uuid.UUID, frozenset[uuid.UUID]]:
    """Each person a packet goes to, with the invitees whose papers they read."""
    rows = await conn.fetch(
        "SELECT person_id, stand_in FROM meeting_invitees WHERE meeting_id = $1", meeting_id
    )
    out: dict[uuid.UUID, set[uuid.UUID]] = {}
    for r in rows:
        out.setdefault(r["person_id"], set()).add(r["person_id"])
        if r["stand_in"] is not None:
            out.setdefault(r["stand_in"], set()).add(r["person_id"])
    return {k: frozenset(v) for k, v in out.items()}


def _may(audience: list[uuid.UUID] | None, as_ids: frozenset[uuid.UUID] | None) -> bool:
    """as_ids None: the secretariat, who sees everything."""
    return as_ids is None or audience is None or bool(as_ids & set(audience))


async def _manifest_payload(
    conn: asyncpg.Connection, meeting: asyncpg.Record, packet: asyncpg.Record, for_id: uuid.UUID,
    as_ids: frozenset[uuid.UUID] | None,
) -> dict[str, Any]:  # fmt: skip
    contents = json.loads(packet["contents"])
    sent = {uuid.UUID(p["paper_id"]): p["version"] for p in contents["papers"]}
    rows = await conn.fetch(
        """SELECT p.id, p.item_id, p.title, p.confidential, p.audience, v.version, v.sha256, v.size,
                  v.name, v.content_type
             FROM meeting_papers p JOIN paper_versions v ON v.paper_id = p.id
            WHERE p.meeting_id = $1 ORDER BY p.created_at, p.id""",
        meeting["id"],
    )
    papers: dict[uuid.UUID, list[dict[str, Any]]] = {}
    visible: set[str] = set()
    for r in rows:
        if sent.get(r["id"]) != r["version"] or not _may(r["audience"], as_ids):
            continue
        visible.add(str(r["id"]))
        papers.setdefault(r["item_id"], []).append(
            {
                "paper_id": str(r["id"]),
                "version": r["version"],
                "title": r["title"],
                "sha256": r["sha256"],
                "size": r["size"],
                "name": r["name"],
                "content_type": r["content_type"],
                "confidential": r["confidential"],
                "path": paper_path(r["id"], r["version"], r["name"]),
            }
        )
    items = await conn.fetch(
        "SELECT id, title, presenter FROM meeting_items WHERE meeting_id = $1 AND id::text = ANY($2::text[]) ORDER BY position",
        meeting["id"],
        contents["items"],
    )
    changes = [
        c
        for c in json.loads(packet["changes"])
        if c["paper_id"] in visible
        or (c["change"] == "removed" and _removed_visible(c, rows, as_ids))
    ]
    return {
        "type": "axis.cabinet.packet",
        "meeting_id": str(meeting["id"]),
        "meeting": {
            "title": meeting["title"],
            "kind": meeting["kind"],
            "starts_at": meeting["starts_at"].isoformat(),
            "place": meeting["place"],
        },
        "packet_version": packet["packet_version"],
        "for": str(for_id),
        "sent_at": packet["sent_at"].isoformat(),
        "urgent": packet["urgent"],
        "reason": packet["reason"],
        "items": [
            {
                "item_id": str(i["id"]),
                "title": i["title"],
                "presenter": i["presenter"],
                "papers": papers.get(i["id"], []),
            }
            for i in items
        ],
        "changes": changes,
    }


def _removed_visible(
    change: dict[str, Any], rows: list[asyncpg.Record], as_ids: frozenset[uuid.UUID] | None
) -> bool:
    return any(str(r["id"]) == change["paper_id"] and _may(r["audience"], as_ids) for r in rows)


async def _seal_for(
    conn: asyncpg.Connection, hub: ax.Hub, meeting: asyncpg.Record, packet: asyncpg.Record,
    for_id: uuid.UUID, as_ids: frozenset[uuid.UUID] | None,
) -> dict[str, Any]:  # fmt: skip
    """The person's sealed manifest of this packet: the stored one, or sealed and stored now."""
    stored = await conn.fetchval(
        "SELECT sealed FROM packet_manifests WHERE meeting_id = $1 AND packet_version = $2 AND person_id = $3",
        meeting["id"], packet["packet_version"], for_id,
    )  # fmt: skip
    if stored is not None:
        found: dict[str, Any] = json.loads(stored)
        return found
    payload = await _manifest_payload(conn, meeting, packet, for_id, as_ids)
    sealed = hub.seal.sign_json(payload)
    digest = hashlib.sha256(canonical_json(sealed)).hexdigest()
    await conn.execute(
        """INSERT INTO packet_manifests (meeting_id, packet_version, person_id, sealed, sha256)
           VALUES ($1, $2, $3, $4::jsonb, $5) ON CONFLICT DO NOTHING""",
        meeting["id"], packet["packet_version"], for_id, json.dumps(sealed, ensure_ascii=False), digest,
    )  # fmt: skip
    again = await conn.fetchval(
        "SELECT sealed FROM packet_manifests WHERE meeting_id = $1 AND packet_version = $2 AND person_id = $3",
        meeting["id"], packet["packet_version"], for_id,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(again)
    return result


async def send_packet(
    conn: asyncpg.Connection, hub: ax.Hub, person: Person, meeting_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    urgent = _flag(body, "urgent", False)
    reason = _text(body, "reason", required=False)
    if urgent and reason is None:
        raise ax.BadRequest("an urgent packet needs a reason, shown to the members", where="reason")
    async with conn.transaction():
        meeting = await _open_meeting(conn, person, meeting_id)
        version_rules = (await rules.version(conn, meeting["rules_version"]))["rules"]
        if meeting["packet_version"] == 0 and not urgent:
            deadline = meeting["starts_at"] - timedelta(days=int(version_rules["notice_days"]))
            if datetime.now(UTC) > deadline:
                raise NoticePeriod(
                    f"the papers must go out {version_rules['notice_days']} days before the meeting "
                    f"(by {deadline.isoformat()}); send it urgent with a reason",
                    where="starts_at",
                )
        previous = await _latest_packet(conn, meeting["id"])
        before = (
            {}
            if previous is None
            else {p["paper_id"]: p["version"] for p in json.loads(previous["contents"])["papers"]}
        )
        before_items = [] if previous is None else json.loads(previous["contents"])["items"]
        now_rows = await conn.fetch(
            """SELECT DISTINCT ON (p.id) p.id, v.version FROM meeting_papers p
                 JOIN paper_versions v ON v.paper_id = p.id
                WHERE p.meeting_id = $1 AND p.taken_back_at IS NULL
                ORDER BY p.id, v.version DESC""",
            meeting["id"],
        )
        after = {str(r["id"]): r["version"] for r in now_rows}
        items = [
            str(r["id"])
            for r in await conn.fetch(
                "SELECT id FROM meeting_items WHERE meeting_id = $1 ORDER BY position",
                meeting["id"],
            )
        ]
        changes = [
            {"paper_id": pid, "change": "added" if pid not in before else "replaced", "version": v}
            for pid, v in sorted(after.items())
            if before.get(pid) != v
        ] + [
            {"paper_id": pid, "change": "removed", "version": v}
            for pid, v in sorted(before.items())
            if pid not in after
        ]
        if not changes and items == before_items:
            raise NoChange("nothing changed since the last packet", where="meeting")
        number = meeting["packet_version"] + 1
        contents = {
            "items": items,
            "papers": [{"paper_id": p, "version": v} for p, v in sorted(after.items())],
        }
        packet = await conn.fetchrow(
            """INSERT INTO meeting_packets (meeting_id, packet_version, urgent, reason, contents, changes, sent_by)
               VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7) RETURNING *""",
            meeting["id"], number, urgent, reason, json.dumps(contents), json.dumps(changes), person.id,
        )  # fmt: skip
        await conn.execute(
            "UPDATE meetings SET state = 'sent', packet_version = $2 WHERE id = $1",
            meeting["id"],
            number,
        )
        meeting = await _meeting_row(conn, str(meeting["id"]))
        notified: list[str] = []
        digests: dict[str, str] = {}
        for pid, as_ids in (await _recipients(conn, meeting["id"])).items():
            sealed = await _seal_for(conn, hub, meeting, packet, pid, as_ids)
            digests[str(pid)] = hashlib.sha256(canonical_json(sealed)).hexdigest()
            seen = sealed["payload"]["changes"]
            if number > 1 and not seen:
                continue  # nothing in this update concerns them
            kind = "packet_sent" if number == 1 else "packet_updated"
            await notify(
                conn, pid, kind, meeting["id"],
                (f"Tài liệu họp: {meeting['title']}", f"Meeting papers: {meeting['title']}")
                if number == 1 else
                (f"Tài liệu họp đã cập nhật: {meeting['title']}", f"Meeting papers updated: {meeting['title']}"),
                {"packet_version": number, "changes": seen, "urgent": urgent, "reason": reason},
            )  # fmt: skip
            notified.append(str(pid))
        await ax.audit(
            conn,
            "meeting_packet_sent",
            {"meeting_id": str(meeting["id"]), "packet_version": number, "urgent": urgent, "reason": reason,
             "changes": changes, "manifests": digests},
        )  # fmt: skip
    return {"packet_version": number, "changes": changes, "notified": sorted(notified)}


async def get_packet(
    conn: asyncpg.Connection, hub: ax.Hub, person: Person, meeting_id: str
) -> dict[str, Any]:
    meeting = await _meeting_row(conn, meeting_id)
    who = await viewer(conn, person, meeting)
    packet = await _latest_packet(conn, meeting["id"])
    if packet is None:
        raise ax.NotFound(f"meeting {meeting_id} has no packet yet", where="packet")
    async with conn.transaction():
        return await _seal_for(
            conn, hub, meeting, packet, person.id, None if who.secretariat else who.as_ids
        )


async def packet_download(
    conn: asyncpg.Connection, hub: ax.Hub, person: Person, meeting_id: str
) -> tuple[dict[str, Any], list[dict[str, Any]], set[str]]:
    """(the caller's sealed manifest, the papers the ZIP holds, ids of listed papers left out
    because they were taken back). Downloading counts as opening each paper it holds: first
    openings are recorded and audited."""
    sealed = await get_packet(conn, hub, person, meeting_id)
    listed = [p for item in sealed["payload"]["items"] for p in item["papers"]]
    gone = {
        str(r["id"])
        for r in await conn.fetch(
            "SELECT id FROM meeting_papers WHERE id = ANY($1::uuid[]) AND taken_back_at IS NOT NULL",
            [uuid.UUID(p["paper_id"]) for p in listed],
        )
    }
    missing = set() if person.secretariat else gone
    papers = [p for p in listed if p["paper_id"] not in missing]
    async with conn.transaction():
        first = await conn.fetch(
            """INSERT INTO paper_openings (paper_id, version, person_id)
               SELECT p, v, $3 FROM unnest($1::uuid[], $2::int[]) AS t(p, v)
               ON CONFLICT DO NOTHING RETURNING paper_id, version""",
            [uuid.UUID(p["paper_id"]) for p in papers], [p["version"] for p in papers], person.id,
        )  # fmt: skip
        if first:
            await ax.audit(
                conn,
                "meeting_papers_downloaded",
                {"meeting_id": sealed["payload"]["meeting_id"], "person_id": str(person.id),
                 "packet_version": sealed["payload"]["packet_version"],
                 "opened": [{"paper_id": str(r["paper_id"]), "version": r["version"]} for r in first]},
            )  # fmt: skip
    return sealed, papers, missing


# ---------------------------------------------------------------- reading papers


async def open_paper(
    conn: asyncpg.Connection, person: Person, meeting_id: str, paper_id: str, version: int | None
) -> asyncpg.Record:
    """The version row to stream; the first opening per person and version is recorded."""
    meeting = await _meeting_row(conn, meeting_id)
    who = await viewer(conn, person, meeting)
    paper = await _paper_of(conn, meeting, paper_id)
    if who.secretariat:
        newest = await conn.fetchval(
            "SELECT max(version) FROM paper_versions WHERE paper_id = $1", paper["id"]
        )
    else:
        packet = await _latest_packet(conn, meeting["id"])
        sent = (
            {p["paper_id"]: p["version"] for p in json.loads(packet["contents"])["papers"]}
            if packet
            else {}
        )
        newest = sent.get(str(paper["id"]))
        if newest is None or not who.may_see(paper["audience"]):
            raise ax.NotFound(f"meeting {meeting_id} has no paper {paper_id}", where="paper")
        if paper["taken_back_at"] is not None:
            raise TakenBack(
                f"paper {paper_id} was taken back by the Government Office", where="paper"
            )
    wanted = newest if version is None else version
    if wanted is None or not 1 <= wanted <= newest:
        raise ax.NotFound(f"paper {paper_id} has no version {version}", where="version")
    row = await conn.fetchrow(
        "SELECT * FROM paper_versions WHERE paper_id = $1 AND version = $2", paper["id"], wanted
    )
    async with conn.transaction():
        first = await conn.fetchval(
            """INSERT INTO paper_openings (paper_id, version, person_id) VALUES ($1, $2, $3)
               ON CONFLICT DO NOTHING RETURNING at""",
            paper["id"], wanted, person.id,
        )  # fmt: skip
        if first is not None:
            await ax.audit(
                conn,
                "meeting_paper_opened",
                {
                    "meeting_id": str(meeting["id"]),
                    "paper_id": str(paper["id"]),
                    "version": wanted,
                    "person_id": str(person.id),
                },
            )
    return row


async def reads(conn: asyncpg.Connection, person: Person, meeting_id: str) -> dict[str, Any]:
    secretariat_only(person)
    meeting = await _meeting_row(conn, meeting_id)
    packet = await _latest_packet(conn, meeting["id"])
    if packet is None:
        return {"papers": []}
    recipients = await _recipients(conn, meeting["id"])
    out = []
    for entry in json.loads(packet["contents"])["papers"]:
        paper = await conn.fetchrow(
            "SELECT audience FROM meeting_papers WHERE id = $1", uuid.UUID(entry["paper_id"])
        )
        audience = sorted(
            str(pid) for pid, as_ids in recipients.items() if _may(paper["audience"], as_ids)
        )
        opened = await conn.fetch(
            "SELECT person_id, at FROM paper_openings WHERE paper_id = $1 AND version = $2 AND person_id::text = ANY($3::text[]) ORDER BY at",
            uuid.UUID(entry["paper_id"]), entry["version"], audience,
        )  # fmt: skip
        done = {str(r["person_id"]) for r in opened}
        out.append(
            {
                "paper_id": entry["paper_id"],
                "version": entry["version"],
                "opened": [
                    {"person_id": str(r["person_id"]), "at": r["at"].isoformat()} for r in opened
                ],
                "not_opened": [pid for pid in audience if pid not in done],
            }
        )
    return {"papers": out}


# ---------------------------------------------------------------- attendance, take-back, close


async def attendance(
    conn: asyncpg.Connection, person: Person, meeting_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    attending = body.get("attending")
    if not isinstance(attending, bool):
        raise ax.BadRequest("attending must be true or false", where="attending")
    reason = _text(body, "reason", required=False)
    stand_in = None if body.get("stand_in") is None else _id(body["stand_in"], "stand_in")
    async with conn.transaction():
        meeting = await _meeting_row(conn, meeting_id, lock=True)
        invited = await conn.fetchval(
            "SELECT 1 FROM meeting_invitees WHERE meeting_id = $1 AND person_id = $2",
            meeting["id"],
            person.id,
        )
        if person.secretariat:
            raise ax.Forbidden("attendance is answered by the invited member", where="person")
        if not invited or meeting["state"] == "draft":
            raise ax.NotFound(f"no meeting {meeting_id}", where="meeting")
        if meeting["state"] == "closed":
            raise NoChange(f"meeting {meeting_id} is closed", where="meeting")
        if stand_in is not None:
            deputy = (await people.many(conn, [stand_in])).get(stand_in)
            if deputy is None or deputy.kind != "deputy" or not deputy.active:
                raise ax.BadRequest(
                    f"stand_in: {stand_in} is not an active deputy", where="stand_in"
                )
        await conn.execute(
            """UPDATE meeting_invitees SET attendance = $3, reason = $4, stand_in = $5, answered_at = now()
                WHERE meeting_id = $1 AND person_id = $2""",
            meeting["id"], person.id, "attending" if attending else "absent", reason, stand_in,
        )  # fmt: skip
        await ax.audit(
            conn,
            "meeting_attendance",
            {"meeting_id": str(meeting["id"]), "person_id": str(person.id), "attending": attending,
             "reason": reason, "stand_in": str(stand_in) if stand_in else None},
        )  # fmt: skip
        if stand_in is not None:
            await notify(
                conn, stand_in, "stand_in", meeting["id"],
                (f"Họp thay: {meeting['title']}", f"Standing in: {meeting['title']}"),
                {"for": str(person.id)},
            )  # fmt: skip
    return await get_meeting(conn, person, meeting_id)


async def _take_back(
    conn: asyncpg.Connection, meeting: asyncpg.Record, paper_ids: list[uuid.UUID], by: uuid.UUID
) -> list[str]:
    rows = await conn.fetch(
        """UPDATE meeting_papers SET taken_back_at = now()
            WHERE meeting_id = $1 AND id = ANY($2::uuid[]) AND taken_back_at IS NULL
        RETURNING id, audience""",
        meeting["id"], paper_ids,
    )  # fmt: skip
    if not rows:
        return []
    packet = await _latest_packet(conn, meeting["id"])
    sent = (
        {p["paper_id"]: p["version"] for p in json.loads(packet["contents"])["papers"]}
        if packet
        else {}
    )
    shas = {
        (r["paper_id"], r["version"]): r["sha256"]
        for r in await conn.fetch(
            "SELECT paper_id, version, sha256 FROM paper_versions WHERE paper_id = ANY($1::uuid[])",
            [r["id"] for r in rows],
        )
    }
    for pid, as_ids in (await _recipients(conn, meeting["id"])).items():
        told = [
            {"paper_id": str(r["id"]), "sha256": shas[(r["id"], v)]}
            for r in rows
            if (v := sent.get(str(r["id"]))) is not None and _may(r["audience"], as_ids)
        ]
        if told:
            await notify(
                conn, pid, "taken_back", meeting["id"],
                (f"Thu hồi tài liệu: {meeting['title']}", f"Papers taken back: {meeting['title']}"),
                {"papers": told},
            )  # fmt: skip
    await ax.audit(
        conn,
        "meeting_papers_taken_back",
        {"meeting_id": str(meeting["id"]), "papers": [str(r["id"]) for r in rows], "by": str(by)},
    )
    return [str(r["id"]) for r in rows]


async def take_back(
    conn: asyncpg.Connection, person: Person, meeting_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    wanted = body.get("papers")
    if not isinstance(wanted, list) or not wanted:
        raise ax.BadRequest("papers must be a non-empty list of paper ids", where="papers")
    ids = [_id(v, f"papers[{n}]") for n, v in enumerate(wanted)]
    async with conn.transaction():
        secretariat_only(person)
        meeting = await _meeting_row(conn, meeting_id, lock=True)
        known = {
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM meeting_papers WHERE meeting_id = $1", meeting["id"]
            )
        }
        for n, pid in enumerate(ids):
            if pid not in known:
                raise ax.NotFound(
                    f"papers[{n}]: meeting {meeting_id} has no paper {pid}", where=f"papers[{n}]"
                )
        await _take_back(conn, meeting, ids, person.id)
    return {"taken_back": sorted({str(i) for i in ids})}


async def close(conn: asyncpg.Connection, person: Person, meeting_id: str) -> dict[str, Any]:
    async with conn.transaction():
        meeting = await _open_meeting(conn, person, meeting_id)
        version_rules = (await rules.version(conn, meeting["rules_version"]))["rules"]
        await conn.execute(
            "UPDATE meetings SET state = 'closed', closed_at = now() WHERE id = $1", meeting["id"]
        )
        if version_rules["take_back_on_close"]:
            confidential = [r["id"] for r in await conn.fetch(
                "SELECT id FROM meeting_papers WHERE meeting_id = $1 AND confidential AND taken_back_at IS NULL", meeting["id"]
            )]  # fmt: skip
            await _take_back(conn, meeting, confidential, person.id)
        await ax.audit(
            conn, "meeting_closed", {"meeting_id": str(meeting["id"]), "by": str(person.id)}
        )
    return await get_meeting(conn, person, meeting_id)


# ---------------------------------------------------------------- notifications


async def notify(
    conn: asyncpg.Connection, person_id: uuid.UUID, kind: str, meeting_id: uuid.UUID,
    titles: tuple[str, str], details: dict[str, Any],
) -> None:  # fmt: skip
    """A notification for one person, in the caller's transaction: its outbox row leaves for the
    gateway once committed, and the NOTIFY wakes the person's long-polls on every hub process."""
    notification_id = await conn.fetchval(
        """INSERT INTO cabinet_notifications (person_id, kind, meeting_id, title_vi, title_en, details)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb) RETURNING id""",
        person_id, kind, meeting_id, titles[0], titles[1], json.dumps(details, ensure_ascii=False),
    )  # fmt: skip
    await conn.execute("INSERT INTO cabinet_outbox (notification_id) VALUES ($1)", notification_id)
    await conn.execute("SELECT pg_notify($1, $2)", notices.CHANNEL, str(person_id))
