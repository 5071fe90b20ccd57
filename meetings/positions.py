"""Positions before the meeting: a voting member agrees, objects or comments on each agenda item
(object and comment need text), changeable until the meeting starts, each recorded in the audit
chain. The secretariat sees per item who agreed, objected or has not answered, and which items have
no objection (they can be adopted without debate); a member sees their own."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import asyncpg

from meetings import axis_port as ax
from meetings import service
from meetings.people import Person

POSITIONS = ("agree", "object", "comment")


class MeetingStarted(ax.Conflict):
    code = "meeting_started"


async def record(
    conn: asyncpg.Connection, person: Person, meeting_id: str, item_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    position = body.get("position")
    if position not in POSITIONS:
        raise ax.BadRequest(f"position must be one of {', '.join(POSITIONS)}", where="position")
    comment = service._text(body, "comment", required=position != "agree", limit=4000)
    if person.secretariat or not person.votes:
        raise ax.Forbidden("only a voting member records a position", where="person")
    async with conn.transaction():
        meeting = await service._meeting_row(conn, meeting_id, lock=True)
        invited = await conn.fetchval(
            "SELECT 1 FROM meeting_invitees WHERE meeting_id = $1 AND person_id = $2",
            meeting["id"], person.id,
        )  # fmt: skip
        if not invited or meeting["state"] == "draft":
            raise ax.NotFound(f"no meeting {meeting_id}", where="meeting")
        if meeting["state"] == "closed" or datetime.now(UTC) >= meeting["starts_at"]:
            raise MeetingStarted(
                f"meeting {meeting_id} started at {meeting['starts_at'].isoformat()}; positions are taken before it",
                where="meeting",
            )
        packet = await service._latest_packet(conn, meeting["id"])
        items = json.loads(packet["contents"])["items"] if packet else []
        item = service._path_id(item_id, "item")
        if str(item) not in items:
            raise ax.NotFound(f"meeting {meeting_id} has no item {item_id}", where="item")
        at = await conn.fetchval(
            """INSERT INTO meeting_positions (meeting_id, item_id, person_id, position, comment)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (item_id, person_id) DO UPDATE
                  SET position = EXCLUDED.position, comment = EXCLUDED.comment, at = now()
               RETURNING at""",
            meeting["id"], item, person.id, position, comment,
        )  # fmt: skip
        await ax.audit(
            conn,
            "meeting_position",
            {"meeting_id": str(meeting["id"]), "item_id": str(item), "person_id": str(person.id),
             "position": position, "comment": comment},
        )  # fmt: skip
    return {"item_id": str(item), "position": position, "comment": comment, "at": at.isoformat()}


async def view(conn: asyncpg.Connection, person: Person, meeting_id: str) -> dict[str, Any]:
    meeting = await service._meeting_row(conn, meeting_id)
    await service.viewer(conn, person, meeting)  # 404 for whoever may not see it
    rows = await conn.fetch(
        "SELECT item_id, person_id, position, comment, at FROM meeting_positions WHERE meeting_id = $1 ORDER BY at",
        meeting["id"],
    )
    if not person.secretariat:
        return {
            "items": [
                {"item_id": str(r["item_id"]), "position": r["position"],
                 "comment": r["comment"], "at": r["at"].isoformat()}
                for r in rows if r["person_id"] == person.id
            ]
        }  # fmt: skip
    voters = [
        str(r["person_id"])
        for r in await conn.fetch(
            """SELECT i.person_id FROM meeting_invitees i
                 JOIN cabinet_people p ON p.person_id = i.person_id
                WHERE i.meeting_id = $1 AND p.votes ORDER BY i.person_id""",
            meeting["id"],
        )
    ]
    items = await conn.fetch(
        "SELECT id, title FROM meeting_items WHERE meeting_id = $1 ORDER BY position", meeting["id"]
    )
    out = []
    for item in items:
        mine = {str(r["person_id"]): r for r in rows if r["item_id"] == item["id"]}
        objected = [
            {"person_id": pid, "comment": r["comment"]}
            for pid, r in mine.items() if r["position"] == "object"
        ]  # fmt: skip
        out.append(
            {
                "item_id": str(item["id"]),
                "title": item["title"],
                "agree": [pid for pid, r in mine.items() if r["position"] == "agree"],
                "object": objected,
                "comment": [
                    {"person_id": pid, "comment": r["comment"]}
                    for pid, r in mine.items()
                    if r["position"] == "comment"
                ],
                "not_answered": [pid for pid in voters if pid not in mine],
                "no_objection": not objected,
            }
        )
    return {"items": out}
