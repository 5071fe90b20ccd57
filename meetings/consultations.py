"""Written consultations of the Government's members (phiếu lấy ý kiến): the secretariat drafts
what is asked and opens it (the form is frozen and sealed), asked voting members answer with
ballots signed by their own certificates (every version kept, the last counts), and at the
deadline, or once everyone answered, the consultation closes and its tally is recomputed from the
stored ballots and sealed (meetings.tally). Records in PostgreSQL, papers in the blob store, each
step in the audit chain filed under the consultation's id.

Who sees what: the secretariat sees every consultation and who answered; an asked member sees an
open or closed one they are asked in, their own ballots, and the tally once it is closed."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp import web

from meetings import axis_port as ax
from meetings import notices, people, rules, service, tally
from meetings.people import Person

log = logging.getLogger("meetings.consultations")

MAX_QUESTIONS = 50
MAX_PAPERS = 100


class NotAllAnswered(ax.Conflict):
    code = "not_all_answered"


class DeadlinePassed(ax.Conflict):
    code = "deadline_passed"


class NotOpen(ax.Conflict):
    code = "not_open"


class NotClosed(ax.Conflict):
    code = "not_closed"


# ---------------------------------------------------------------- small checks


async def _now(conn: asyncpg.Connection) -> datetime:
    now: datetime = await conn.fetchval("SELECT clock_timestamp()")
    return now


# ---------------------------------------------------------------- reading


_ROW = {
    "": "SELECT * FROM consultations WHERE id = $1",
    "FOR SHARE": "SELECT * FROM consultations WHERE id = $1 FOR SHARE",
    "FOR UPDATE": "SELECT * FROM consultations WHERE id = $1 FOR UPDATE",
}


async def _row(
    conn: asyncpg.Connection, consultation_id: str | uuid.UUID, lock: str = ""
) -> asyncpg.Record:
    cid = (
        consultation_id
        if isinstance(consultation_id, uuid.UUID)
        else service._path_id(consultation_id, "consultation")
    )
    row = await conn.fetchrow(_ROW[lock], cid)
    if row is None:
        raise ax.NotFound(f"no consultation {consultation_id}", where="consultation")
    return row


def _may_see(person: Person, row: asyncpg.Record) -> None:
    """404 (as for another agency's letter) for whoever may not see it."""
    if person.secretariat:
        return
    if row["state"] == "draft" or person.id not in (row["asked"] or []):
        raise ax.NotFound(f"no consultation {row['id']}", where="consultation")


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def _latest_ballots(conn: asyncpg.Connection, cid: uuid.UUID) -> list[asyncpg.Record]:
    """The last version of each member's ballot."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT DISTINCT ON (member) id, member, version, ballot, ballot_sha256, receipt, at
             FROM consultation_ballots WHERE consultation_id = $1
            ORDER BY member, version DESC""",
        cid,
    )
    return rows


async def _papers(conn: asyncpg.Connection, cid: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT * FROM consultation_papers WHERE consultation_id = $1 ORDER BY position", cid
    )
    return [
        {
            "id": str(r["id"]),
            "title": r["title"],
            "sha256": r["sha256"],
            "size": r["size"],
            "name": r["name"],
            "content_type": r["content_type"],
            "from_letter": str(r["document_id"]) if r["document_id"] else None,
        }
        for r in rows
    ]


def _ballot_json(r: asyncpg.Record, *, counts: bool, full: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ballot_id": str(r["id"]),
        "member": str(r["member"]),
        "version": r["version"],
        "ballot_sha256": r["ballot_sha256"],
        "at": r["at"].isoformat(),
        "counts": counts,
    }
    if full:
        out["ballot"] = _loads(r["ballot"])
        out["receipt"] = _loads(r["receipt"])
    return out


async def describe(conn: asyncpg.Connection, person: Person, row: asyncpg.Record) -> dict[str, Any]:
    latest = await _latest_ballots(conn, row["id"])
    asked = [str(m) for m in row["asked"] or []]
    answered = [str(r["member"]) for r in latest if str(r["member"]) in asked]
    mine = next((r for r in latest if r["member"] == person.id), None)
    result = _loads(row["result"]) if row["result"] else None
    return {
        "id": str(row["id"]),
        "title": row["title"],
        "summary": row["summary"],
        "requested_by": row["requested_by"],
        "request_letter": str(row["request_letter"]) if row["request_letter"] else None,
        "questions": [
            {"number": n, "text": text} for n, text in enumerate(_loads(row["questions"]), start=1)
        ],
        "members": None if row["members"] is None else [str(m) for m in row["members"]],
        "state": row["state"],
        "deadline": row["deadline"].isoformat(),
        "created_at": row["created_at"].isoformat(),
        "opened_at": row["opened_at"].isoformat() if row["opened_at"] else None,
        "closed_at": row["closed_at"].isoformat() if row["closed_at"] else None,
        "closed_by": row["closed_by"],
        "rules_version": row["rules_version"],
        "base": row["base"],
        "chair": str(row["chair"]) if row["chair"] else None,
        "form": _loads(row["form"]) if row["form"] else None,
        "form_sha256": row["form_sha256"],
        "papers": await _papers(conn, row["id"]),
        "asked": asked,
        "answered_count": len(answered),
        # Who answered and who has not: the secretariat's to see.
        "answered": answered if person.secretariat else None,
        "not_answered": [m for m in asked if m not in answered] if person.secretariat else None,
        "my_ballot": None if mine is None else _ballot_json(mine, counts=True, full=True),
        "tally_sha256": row["tally_sha256"],
        "result": result,
    }


async def get(conn: asyncpg.Connection, person: Person, consultation_id: str) -> dict[str, Any]:
    row = await _row(conn, consultation_id)
    _may_see(person, row)
    return await describe(conn, person, row)


async def list_all(conn: asyncpg.Connection, person: Person) -> list[dict[str, Any]]:
    if person.secretariat:
        rows = await conn.fetch("SELECT * FROM consultations ORDER BY created_at DESC")
    else:
        rows = await conn.fetch(
            """SELECT * FROM consultations WHERE state <> 'draft' AND $1 = ANY(asked)
                ORDER BY created_at DESC""",
            person.id,
        )
    return [await describe(conn, person, r) for r in rows]


async def paper(
    conn: asyncpg.Connection, person: Person, consultation_id: str, paper_id: str
) -> asyncpg.Record:
    row = await _row(conn, consultation_id)
    _may_see(person, row)
    found = await conn.fetchrow(
        "SELECT * FROM consultation_papers WHERE id = $1 AND consultation_id = $2",
        service._path_id(paper_id, "paper"),
        row["id"],
    )
    if found is None:
        raise ax.NotFound(f"consultation {consultation_id} has no paper {paper_id}", where="paper")
    return found


# ---------------------------------------------------------------- drafting and opening


async def _members(conn: asyncpg.Connection, value: object) -> list[uuid.UUID] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise ax.BadRequest(
            "members is null (every voting member) or a non-empty list of member ids",
            where="members",
        )
    ids = [ax.parse_uuid(v, f"members[{n}]") for n, v in enumerate(value)]
    if len(set(ids)) != len(ids):
        raise ax.BadRequest("members names a person twice", where="members")
    found = await people.many(conn, ids)
    for n, pid in enumerate(ids):
        who = found.get(pid)
        if who is None or not who.active:
            raise ax.BadRequest(
                f"members[{n}]: no active cabinet person {pid}", where=f"members[{n}]"
            )
        if who.kind != "member" or not who.votes:
            raise ax.BadRequest(
                f"members[{n}]: {who.login} is a {who.kind}{'' if who.votes else ' who does not vote'}; "
                "only voting members are asked (a stand-in never votes)",
                where=f"members[{n}]",
            )
    return ids


async def _paper_source(
    conn: asyncpg.Connection, hub: ax.Hub, entry: object, where: str
) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise ax.BadRequest(f"{where} must be an object", where=where)
    title = service.text(entry.get("title"), f"{where}.title")
    try:
        sha, size, name, content_type, document_id, ref = await service._source(conn, hub, entry)
    except ax.AxisError as exc:
        exc.message = f"{where}: {exc.message}"
        exc.where = f"{where}.{exc.where}" if exc.where else where
        raise
    name = (
        service.text(entry.get("name"), f"{where}.name", limit=255, required=name is None) or name
    )
    content_type = (
        service.text(entry.get("content_type"), f"{where}.content_type", limit=255, required=False)
        or content_type
        or "application/octet-stream"
    )
    return {
        "title": title,
        "sha256": sha,
        "size": size,
        "name": name or "paper",
        "content_type": content_type,
        "document_id": document_id,
        "attachment": ref,
    }


async def create(
    conn: asyncpg.Connection, hub: ax.Hub, person: Person, body: dict[str, Any]
) -> dict[str, Any]:
    service.secretariat_only(person)
    title = service.text(body.get("title"), "title")
    summary = service.text(body.get("summary"), "summary", limit=20000, lines=True)
    requested_by = service.text(body.get("requested_by"), "requested_by", limit=100)
    assert requested_by is not None
    questions = body.get("questions")
    if not isinstance(questions, list) or not questions or len(questions) > MAX_QUESTIONS:
        raise ax.BadRequest(
            f"questions must be a list of 1 to {MAX_QUESTIONS} questions (text)",
            where="questions",
        )
    asked_texts = [
        service.text(q, f"questions[{n}]", limit=4000, lines=True) for n, q in enumerate(questions)
    ]
    deadline = service._when(body.get("deadline"), "deadline")
    if deadline <= datetime.now(UTC):
        raise ax.BadRequest(f"deadline {deadline.isoformat()} has already passed", where="deadline")
    papers = body.get("papers", [])
    if not isinstance(papers, list) or len(papers) > MAX_PAPERS:
        raise ax.BadRequest(f"papers must be a list of at most {MAX_PAPERS} papers", where="papers")
    members = await _members(conn, body.get("members"))
    if not await ax.agency_exists(conn, requested_by):
        raise ax.Unprocessable(
            f"requested_by: no agency {requested_by!r} on the axis", where="requested_by"
        )
    letter = body.get("request_letter")
    request_letter = None
    if letter is not None:
        request_letter = await _request_letter(hub, letter, requested_by)
    sources = [await _paper_source(conn, hub, p, f"papers[{n}]") for n, p in enumerate(papers)]
    cid = ax.new_id()
    async with conn.transaction():
        await conn.execute(
            """INSERT INTO consultations (id, title, summary, requested_by, request_letter, questions,
                                          members, deadline, created_by)
               VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9)""",
            cid, title, summary, requested_by, request_letter,
            json.dumps(asked_texts, ensure_ascii=False), members, deadline, person.id,
        )  # fmt: skip
        for n, src in enumerate(sources, start=1):
            await conn.execute(
                """INSERT INTO consultation_papers (id, consultation_id, position, title, sha256, size,
                                                    name, content_type, document_id, attachment)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
                ax.new_id(), cid, n, src["title"], src["sha256"], src["size"], src["name"],
                src["content_type"], src["document_id"], src["attachment"],
            )  # fmt: skip
        await ax.audit_about(
            conn,
            cid,
            "consultation_created",
            {"consultation_id": str(cid), "by": str(person.id), "requested_by": requested_by,
             "papers": [s["sha256"] for s in sources]},
        )  # fmt: skip
    return await get(conn, person, str(cid))


async def _request_letter(hub: ax.Hub, value: object, requested_by: str) -> uuid.UUID:
    document_id = ax.parse_uuid(value, "request_letter")
    organ = hub.config.cabinet_organ
    if not organ:
        raise ax.Unprocessable(
            "AXIS_CABINET_ORGAN is not set: the hub does not know the Government Office's agency",
            where="request_letter",
        )
    try:
        found = await ax.letter_summary(hub, organ, str(document_id))
    except ax.NotFound:
        raise ax.Unprocessable(
            f"request_letter: no letter {document_id} sent to or by {organ}",
            where="request_letter",
        ) from None
    if found["sender"] != requested_by:
        raise ax.Unprocessable(
            f"request_letter {document_id} was sent by {found['sender']}, not by {requested_by}",
            where="request_letter",
        )
    return document_id


async def open_(
    conn: asyncpg.Connection, hub: ax.Hub, person: Person, consultation_id: str
) -> dict[str, Any]:
    """Freeze what is asked: the asked members, the rules version in force, the sealed form."""
    service.secretariat_only(person)
    async with conn.transaction():
        row = await _row(conn, consultation_id, "FOR UPDATE")
        if row["state"] != "draft":
            raise NotOpen(
                f"consultation {consultation_id} is {row['state']}; what is asked never changes once open",
                where="consultation",
            )
        now = await _now(conn)
        if row["deadline"] <= now:
            raise DeadlinePassed(
                f"the deadline {row['deadline'].isoformat()} has passed; set a later one first",
                where="deadline",
                details={"deadline": row["deadline"].isoformat()},
            )
        voting = await conn.fetch(
            """SELECT p.person_id, p.chair FROM cabinet_people p JOIN users u ON u.id = p.person_id
                WHERE p.kind = 'member' AND p.votes AND u.active ORDER BY p.person_id"""
        )
        asked = (
            list(row["members"]) if row["members"] is not None else [r["person_id"] for r in voting]
        )
        if not asked:
            raise ax.Conflict("there is no voting member to ask", where="members")
        current = await rules.current(conn)
        base = len(voting) if current["rules"]["majority_of"] == "all_members" else len(asked)
        chair = next((r["person_id"] for r in voting if r["chair"]), None)
        papers = await _papers(conn, row["id"])
        payload = {
            "type": tally.FORM_TYPE,
            "consultation_id": str(row["id"]),
            "title": row["title"],
            "summary": row["summary"],
            "requested_by": row["requested_by"],
            "deadline": row["deadline"].isoformat(),
            "questions": [
                {"number": n, "text": text}
                for n, text in enumerate(_loads(row["questions"]), start=1)
            ],
            "papers": [{"paper_id": p["id"], "sha256": p["sha256"]} for p in papers],
            "asked": [str(a) for a in asked],
            "rules_version": current["version"],
        }
        sealed = hub.seal.sign_json(payload)
        form_sha = tally.payload_sha256(payload)
        await conn.execute(
            """UPDATE consultations SET state = 'open', opened_at = $2, rules_version = $3, asked = $4,
                      base = $5, chair = $6, form = $7::jsonb, form_sha256 = $8 WHERE id = $1""",
            row["id"], now, current["version"], asked, base, chair,
            json.dumps(sealed, ensure_ascii=False), form_sha,
        )  # fmt: skip
        await ax.audit_about(
            conn,
            row["id"],
            "consultation_opened",
            {"consultation_id": str(row["id"]), "form_sha256": form_sha,
             "rules_version": current["version"], "asked": payload["asked"], "base": base,
             "by": str(person.id)},
        )  # fmt: skip
        for member in asked:
            await notify(
                conn, member, "consultation_opened", row["id"],
                (f"Xin ý kiến: {row['title']}", f"Your opinion is asked: {row['title']}"),
                {"deadline": row["deadline"].isoformat(), "form_sha256": form_sha},
            )  # fmt: skip
    return await get(conn, person, consultation_id)


async def set_deadline(
    conn: asyncpg.Connection, person: Person, consultation_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    service.secretariat_only(person)
    deadline = service._when(body.get("deadline"), "deadline")
    async with conn.transaction():
        row = await _row(conn, consultation_id, "FOR UPDATE")
        if row["state"] == "closed":
            raise NotOpen(f"consultation {consultation_id} is closed", where="consultation")
        if deadline <= row["deadline"]:
            raise ax.BadRequest(
                f"the deadline may only move later than {row['deadline'].isoformat()}",
                where="deadline",
            )
        await conn.execute(
            "UPDATE consultations SET deadline = $2 WHERE id = $1", row["id"], deadline
        )
        await ax.audit_about(
            conn,
            row["id"],
            "consultation_deadline",
            {"consultation_id": str(row["id"]), "from": row["deadline"].isoformat(),
             "to": deadline.isoformat(), "by": str(person.id)},
        )  # fmt: skip
        if row["state"] == "open":
            for member in row["asked"]:
                await notify(
                    conn, member, "deadline_changed", row["id"],
                    (f"Gia hạn xin ý kiến: {row['title']}", f"Deadline extended: {row['title']}"),
                    {"deadline": deadline.isoformat()},
                )  # fmt: skip
    return await get(conn, person, consultation_id)


# ---------------------------------------------------------------- ballots (meetings.ballots records them)


def deadline_passed(deadline: datetime) -> DeadlinePassed:
    return DeadlinePassed(
        f"the consultation closed at its deadline {deadline.isoformat()}",
        where="consultation",
        details={"deadline": deadline.isoformat()},
    )


async def ballots(conn: asyncpg.Connection, person: Person, consultation_id: str) -> dict[str, Any]:
    row = await _row(conn, consultation_id)
    _may_see(person, row)
    rows = await conn.fetch(
        """SELECT b.*, b.version = max(b.version) OVER (PARTITION BY b.member) AS latest
             FROM consultation_ballots b WHERE b.consultation_id = $1
              AND ($2::uuid IS NULL OR b.member = $2) ORDER BY b.at, b.member, b.version""",
        row["id"], None if person.secretariat else person.id,
    )  # fmt: skip
    return {
        "ballots": [
            _ballot_json(r, counts=bool(r["latest"]), full=not person.secretariat) for r in rows
        ]
    }


# ---------------------------------------------------------------- tally and closing


async def _count(
    conn: asyncpg.Connection, row: asyncpg.Record, closed_at: datetime | None
) -> dict[str, Any]:
    version = await rules.version(conn, row["rules_version"])
    asked = [str(m) for m in row["asked"]]
    latest = [_loads(r["ballot"]) for r in await _latest_ballots(conn, row["id"])]
    return tally.count(
        consultation_id=str(row["id"]),
        form_sha256=row["form_sha256"],
        rules_version=version["version"],
        rules=version["rules"],
        closed_at=closed_at.isoformat() if closed_at else None,
        base=row["base"],
        asked=asked,
        chair=str(row["chair"]) if row["chair"] else None,
        questions=range(1, len(_loads(row["questions"])) + 1),
        ballots=[b for b in latest if b["payload"]["member"] in asked],
    )


async def _close(conn: asyncpg.Connection, hub: ax.Hub, row: asyncpg.Record, by: str) -> None:
    """In the caller's transaction, with the row locked FOR UPDATE: the tally from the stored
    ballots, sealed; the asked are told."""
    closed_at = await _now(conn)
    payload = await _count(conn, row, closed_at)
    sealed = hub.seal.sign_json(payload)
    digest = tally.payload_sha256(payload)
    await conn.execute(
        """UPDATE consultations SET state = 'closed', closed_at = $2, closed_by = $3,
                  tally = $4::jsonb, tally_sha256 = $5 WHERE id = $1""",
        row["id"], closed_at, by, json.dumps(sealed, ensure_ascii=False), digest,
    )  # fmt: skip
    await ax.audit_about(
        conn,
        row["id"],
        "consultation_closed",
        {"consultation_id": str(row["id"]), "by": by, "closed_at": closed_at.isoformat(),
         "ballots": len(payload["ballots"])},
    )  # fmt: skip
    await ax.audit_about(
        conn,
        row["id"],
        "consultation_tally",
        {"consultation_id": str(row["id"]), "tally_sha256": digest,
         "outcomes": [{"number": q["number"], "outcome": q["outcome"]} for q in payload["questions"]]},
    )  # fmt: skip
    for member in row["asked"]:
        await notify(
            conn, member, "result_ready", row["id"],
            (f"Kết quả xin ý kiến: {row['title']}", f"Result ready: {row['title']}"),
            {"tally_sha256": digest,
             "outcomes": [{"number": q["number"], "outcome": q["outcome"]} for q in payload["questions"]]},
        )  # fmt: skip
    log.info("event=consultation_closed consultation_id=%s by=%s", row["id"], by)


async def close(
    conn: asyncpg.Connection, hub: ax.Hub, person: Person, consultation_id: str
) -> dict[str, Any]:
    """Early, once every asked member answered."""
    service.secretariat_only(person)
    async with conn.transaction():
        row = await _row(conn, consultation_id, "FOR UPDATE")
        if row["state"] != "open":
            raise NotOpen(f"consultation {consultation_id} is {row['state']}", where="consultation")
        answered = {r["member"] for r in await _latest_ballots(conn, row["id"])}
        waiting = [str(m) for m in row["asked"] if m not in answered]
        if waiting:
            raise NotAllAnswered(
                f"{len(waiting)} asked member(s) have not answered; it closes by itself at the deadline",
                where="consultation",
                details={"not_answered": waiting, "deadline": row["deadline"].isoformat()},
            )
        await _close(conn, hub, row, "secretariat")
    return await get(conn, person, consultation_id)


async def get_tally(
    conn: asyncpg.Connection, person: Person, consultation_id: str
) -> dict[str, Any]:
    row = await _row(conn, consultation_id)
    _may_see(person, row)
    if row["state"] == "closed":
        sealed: dict[str, Any] = _loads(row["tally"])
        return sealed
    if not person.secretariat:
        raise NotClosed(
            "the tally is shown to members once the consultation is closed", where="consultation"
        )
    if row["state"] == "draft":
        raise NotOpen(f"consultation {consultation_id} is a draft", where="consultation")
    return await _count(conn, row, None)


async def close_due(hub: ax.Hub, limit: int = 20) -> int:
    """Close every open consultation whose deadline has come (any number of hubs side by side)."""
    async with hub.db.connection() as conn, conn.transaction():
        rows = await conn.fetch(
            """SELECT * FROM consultations WHERE state = 'open' AND deadline <= clock_timestamp()
                ORDER BY deadline LIMIT $1 FOR UPDATE SKIP LOCKED""",
            limit,
        )
        for row in rows:
            await _close(conn, hub, row, "deadline")
    return len(rows)


async def remind_due(hub: ax.Hub) -> int:
    """At each `reminders` offset before the deadline, tell the asked who have not answered, once.
    An offset already past when the consultation opened is not sent."""
    sent = 0
    async with hub.db.connection() as conn:
        rows = await conn.fetch(
            """SELECT c.id, c.title, c.deadline, c.opened_at, c.asked, r.rules
                 FROM consultations c JOIN cabinet_rules r ON r.version = c.rules_version
                WHERE c.state = 'open'"""
        )
        now = await _now(conn)
        for row in rows:
            offsets = {**rules.DEFAULTS, **json.loads(row["rules"])}["reminders"]
            for before in offsets:
                at = row["deadline"] - rules.duration(before)
                if not row["opened_at"] < at <= now:
                    continue
                async with conn.transaction():
                    claimed = await conn.fetchval(
                        """INSERT INTO consultation_reminders (consultation_id, before, reminded)
                           VALUES ($1, $2, 0) ON CONFLICT DO NOTHING RETURNING true""",
                        row["id"], before,
                    )  # fmt: skip
                    if not claimed:
                        continue
                    answered = {r["member"] for r in await _latest_ballots(conn, row["id"])}
                    waiting = [m for m in row["asked"] if m not in answered]
                    for member in waiting:
                        await notify(
                            conn, member, "reminder", row["id"],
                            (f"Nhắc trả lời xin ý kiến: {row['title']}",
                             f"Reminder, your answer is due: {row['title']}"),
                            {"deadline": row["deadline"].isoformat(), "before": before},
                        )  # fmt: skip
                    await conn.execute(
                        "UPDATE consultation_reminders SET reminded = $3 WHERE consultation_id = $1 AND before = $2",
                        row["id"], before, len(waiting),
                    )  # fmt: skip
                    sent += len(waiting)
    return sent


# ---------------------------------------------------------------- proof


async def proof(hub: ax.Hub, person: Person, consultation_id: str) -> dict[str, Any]:
    """The consultation's audit entries chained to a sealed checkpoint. A member reads the
    entries about their own ballots and the consultation itself; other members' ballots are
    there as hashes only (who answered is the secretariat's to see)."""
    async with hub.db.connection() as conn:
        row = await _row(conn, consultation_id)
        _may_see(person, row)
    doc = await ax.proof(hub, row["id"])
    if not person.secretariat:
        mine = str(person.id)
        for n, entry in enumerate(doc["entries"]):
            member = (entry.get("content") or {}).get("details", {}).get("member")
            if member is not None and member != mine:
                doc["entries"][n] = {
                    k: entry[k] for k in ("chain_seq", "prev_hash", "content_hash", "hash")
                }
                doc["entries"][n]["redacted"] = True
        doc["view"] = {"role": "member", "person_id": mine}
    return doc


# ---------------------------------------------------------------- notifications


async def notify(
    conn: asyncpg.Connection, person_id: uuid.UUID, kind: str, consultation_id: uuid.UUID,
    titles: tuple[str, str], details: dict[str, Any],
) -> None:  # fmt: skip
    """As meetings.service.notify: the notification, its outbox copy and the NOTIFY, in the
    caller's transaction."""
    notification_id = await conn.fetchval(
        """INSERT INTO cabinet_notifications (person_id, kind, consultation_id, title_vi, title_en, details)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb) RETURNING id""",
        person_id, kind, consultation_id, titles[0], titles[1], json.dumps(details, ensure_ascii=False),
    )  # fmt: skip
    await conn.execute("INSERT INTO cabinet_outbox (notification_id) VALUES ($1)", notification_id)
    await conn.execute("SELECT pg_notify($1, $2)", notices.CHANNEL, str(person_id))


# ---------------------------------------------------------------- the clock

TICK_SECONDS = 1.0


class Clock:
    """Closes consultations at their deadline and sends reminders, within about a second."""

    def __init__(self, hub: ax.Hub, tick: float = TICK_SECONDS) -> None:
        self.hub = hub
        self.tick = tick
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="consultation-clock")

    async def close(self, timeout: float = 10.0) -> None:
        """Cancel the clock and wait for it, at most `timeout` seconds (a stuck one is named)."""
        task, self._task = self._task, None
        if task is None:
            return
        if not await ax.stop_task(task, timeout):
            log.error("event=consultation_clock_close_stuck seconds=%s", timeout)

    async def _run(self) -> None:
        while True:
            try:
                while await close_due(self.hub):
                    pass
                await remind_due(self.hub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "event=consultation_clock_failed error=%r", f"{type(exc).__name__}: {exc}"
                )
            await asyncio.sleep(self.tick)


async def running(app: web.Application) -> AsyncIterator[None]:
    clock = Clock(ax.hub_of(app))
    clock.start()
    try:
        yield
    finally:
        await clock.close()


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(running)
