"""Status receipts: what recipients report about a letter (01…06, 15, 16) and the sender's recall
request (13), checked for sense, stored like letters and carried to whoever must hear it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from typing import Any

import asyncpg

import edoc
from axis import metrics, repo
from axis.agencies import Agency
from axis.delivery import parse_id, shown_error
from axis.errors import BadRequest, Conflict, Forbidden, NotFound
from axis.hub import Hub
from axis.ids import uuid7
from axis.ingest import check_package, insert_deliveries

log = logging.getLogger("axis.receipts")

TRACK = ("01", "02", "03", "04", "05", "06")
RECALL_ANSWERS = ("15", "16")


def transition_error(
    current: str | None, new: str, *, recall_asked: bool, business_type: int
) -> str | None:
    """Why a recipient may not report `new` after `current`, or None when it may."""
    if new in RECALL_ANSWERS:
        if business_type in (1, 2) or recall_asked:
            return None
        return "15 and 16 answer a recall or update; nothing was asked of this letter"
    if new == "13":
        return "13 (recall asked) is sent by the letter's sender, not by a recipient"
    if current is None:
        return None  # skipping forward from nothing is legal: real systems start at 03
    if current in ("02", "06"):
        label = "refused" if current == "02" else "done"
        return f"the letter is already {current} ({label}); nothing can follow it"
    cur, nxt = edoc.StatusCode.from_code(current), edoc.StatusCode.from_code(new)
    if current in TRACK and not cur.can_move_to(nxt):
        return f"{new} cannot follow {current}: statuses only move forward (01 → 03 or 02; 03 → 04 → 05 → 06)"
    return None


async def post_status(
    hub: Hub, agency: Agency, data: bytes, *, letter_id: str | None = None
) -> dict[str, Any]:
    """Take a signed Status package about a letter; `letter_id` None finds it from ResponseFor."""
    checked = await check_package(hub, data, agency)
    package = checked.package
    status = package.header
    if not isinstance(status, edoc.StatusMessage):
        raise BadRequest(
            "this is a letter, not a Status package; send letters to /v1/documents",
            where="MessageHeader",
        )
    code = status.status_code.code
    received_sha = hashlib.sha256(data).hexdigest()
    async with hub.db.connection() as conn:
        letter = await _letter(conn, agency, status, letter_id)
        earlier = await conn.fetchrow(
            """SELECT id, receipt FROM documents WHERE kind = 'status' AND sender = $1 AND responds_to = $2
                 AND COALESCE(received_sha256, content_sha256) = $3""",
            agency.organ_id,
            letter["id"],
            received_sha,
        )
    if earlier is not None:
        first: dict[str, Any] = json.loads(earlier["receipt"])
        return first  # the same package again: the first answer

    is_sender = letter["sender"] == agency.organ_id
    if code == "13":
        if not is_sender:
            raise Forbidden(
                "only the letter's sender may ask for it back (13)",
                where="MessageHeader/StatusCode",
            )
    elif is_sender:
        raise Forbidden(
            f"status {code} is reported by a recipient; the sender may only post 13 (recall asked)",
            where="MessageHeader/StatusCode",
        )

    kept = data
    if checked.signature == "legacy":
        kept = await asyncio.to_thread(hub.seal.sign_document, data)
    stored = await hub.blobs.put(kept)
    status_id = uuid7()
    async with hub.db.connection() as conn, conn.transaction():
        if code == "13":
            targets = [
                r["recipient"]
                for r in await conn.fetch(
                    "SELECT recipient FROM deliveries WHERE document_id = $1 ORDER BY seq",
                    letter["id"],
                )
            ]
            audit_recipient = None
        else:
            delivery = await conn.fetchrow(
                "SELECT id, business_status, state FROM deliveries WHERE document_id = $1 AND recipient = $2 FOR UPDATE",
                letter["id"],
                agency.organ_id,
            )
            assert delivery is not None  # _letter checked that the caller is a recipient
            recall_asked = bool(
                await conn.fetchval(
                    "SELECT 1 FROM documents WHERE kind = 'status' AND responds_to = $1 AND status_code = '13'",
                    letter["id"],
                )
            )
            problem = transition_error(
                delivery["business_status"] if code not in RECALL_ANSWERS else None,
                code,
                recall_asked=recall_asked,
                business_type=letter["business_type"],
            )
            if problem:
                metrics.REFUSED.labels("status_transition").inc()
                raise Conflict(
                    problem,
                    where="MessageHeader/StatusCode",
                    details={
                        "current": delivery["business_status"],
                        "posted": code,
                        "delivery_id": str(delivery["id"]),
                    },
                )
            if code not in RECALL_ANSWERS:
                await conn.execute(
                    "UPDATE deliveries SET business_status = $2, business_status_at = now() WHERE id = $1",
                    delivery["id"],
                    code,
                )
            targets = [letter["sender"]]
            audit_recipient = agency.organ_id
        body = {
            "document_id": str(status_id),
            "status": "accepted",
            "kind": "status",
            "status_code": code,
            "responds_to": str(letter["id"]),
            "signature": checked.signature,
            "unsigned_legacy": checked.signature == "legacy",
            "deliveries": [],
        }
        deliveries = [(uuid7(), organ) for organ in targets]
        body["deliveries"] = [{"delivery_id": str(d), "recipient": o} for d, o in deliveries]
        body["receipt"] = hub.seal.sign_json(
            {
                "type": "status_acceptance",
                "document_id": str(status_id),
                "responds_to": str(letter["id"]),
                "status_code": code,
                "from": agency.organ_id,
                "sha256": received_sha,
                "deliveries": body["deliveries"],
            }
        )
        summary = {
            "status_code": code,
            "label_vi": status.status_code.label_vi,
            "label_en": status.status_code.label_en,
            "from": agency.organ_id,
            "description": status.description,
            "timestamp": status.timestamp.isoformat(),
            "responds_to": str(letter["id"]),
            "staff": status.staff_info.staff if status.staff_info else None,
        }
        await conn.execute(
            """INSERT INTO documents (id, kind, sender, edxml_document_id, business_type, status_code, content_sha256,
                   size, subject, signature, signer_fingerprint, responds_to, summary, receipt, received_sha256)
               VALUES ($1, 'status', $2, $3, 0, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12::jsonb, $13)""",
            status_id,
            agency.organ_id,
            letter["edxml_document_id"],
            code,
            stored.sha256,
            stored.size,
            letter["subject"],
            checked.signature,
            checked.signer_fingerprint,
            letter["id"],
            json.dumps(summary, ensure_ascii=False),
            json.dumps(body, ensure_ascii=False),
            received_sha,
        )
        await insert_deliveries(conn, status_id, deliveries)
        await repo.audit(
            conn,
            "status",
            organ_id=agency.organ_id,
            document_id=letter["id"],
            details={
                "status_code": code,
                "status_document_id": str(status_id),
                "recipient": audit_recipient,
                "signature": checked.signature,
                "by": "agency",
            },
        )
    metrics.STAGE.labels(f"status_{code}").inc()
    log.info("event=status document_id=%s from=%s code=%s", letter["id"], agency.organ_id, code)
    return body


async def _letter(
    conn: asyncpg.Connection, agency: Agency, status: edoc.StatusMessage, letter_id: str | None
) -> asyncpg.Record:
    """The letter a status is about, visible to the caller (sender or recipient); 404 otherwise."""
    ref = status.response_for
    if letter_id is not None:
        row = await conn.fetchrow(
            """SELECT doc.* FROM documents doc WHERE doc.id = $1 AND doc.kind = 'letter' AND (doc.sender = $2 OR
                 EXISTS (SELECT 1 FROM deliveries d WHERE d.document_id = doc.id AND d.recipient = $2))""",
            parse_id(letter_id, "document"),
            agency.organ_id,
        )
        if row is None:
            raise NotFound(
                f"no letter {letter_id} sent to or by {agency.organ_id}", where="document"
            )
        if ref.document_id != row["edxml_document_id"]:
            raise BadRequest(
                f"ResponseFor/DocumentId is {ref.document_id!r} but letter {letter_id} is {row['edxml_document_id']!r}",
                where="MessageHeader/ResponseFor/DocumentId",
            )
        return row
    # Found by ResponseFor: the newest letter with that DocumentId from that sender the caller shares.
    row = await conn.fetchrow(
        """SELECT doc.* FROM documents doc
            WHERE doc.kind = 'letter' AND doc.edxml_document_id = $1 AND doc.sender = $2 AND (doc.sender = $3 OR
                  EXISTS (SELECT 1 FROM deliveries d WHERE d.document_id = doc.id AND d.recipient = $3))
            ORDER BY doc.business_type = 0, doc.received_at DESC LIMIT 1""",
        ref.document_id,
        ref.organ_id,
        agency.organ_id,
    )
    if row is None:
        raise NotFound(
            f"no letter {ref.document_id} from {ref.organ_id} was sent to or by {agency.organ_id}",
            where="MessageHeader/ResponseFor/DocumentId",
        )
    return row


async def trace(hub: Hub, agency: Agency, document_id: str) -> dict[str, Any]:
    """A letter's life: per recipient every status with time and poster, the hops, and its links."""
    doc_id = parse_id(document_id, "document")
    async with hub.db.connection() as conn:
        letter = await conn.fetchrow(
            """SELECT doc.* FROM documents doc WHERE doc.id = $1 AND (doc.sender = $2 OR
                 EXISTS (SELECT 1 FROM deliveries d WHERE d.document_id = doc.id AND d.recipient = $2))""",
            doc_id,
            agency.organ_id,
        )
        if letter is None:
            raise NotFound(
                f"no document {document_id} addressed to or sent by {agency.organ_id}",
                where="document",
            )
        deliveries = await conn.fetch(
            """SELECT d.*, a.name FROM deliveries d JOIN agencies a ON a.organ_id = d.recipient
                WHERE d.document_id = $1 ORDER BY d.seq""",
            doc_id,
        )
        statuses = await conn.fetch(
            """SELECT id, sender, status_code, received_at, signature, summary FROM documents
                WHERE kind = 'status' AND responds_to = $1 ORDER BY received_at, id""",
            doc_id,
        )
        links_out = await conn.fetch(
            """SELECT l.to_document, l.kind, d.edxml_document_id FROM document_links l
                 JOIN documents d ON d.id = l.to_document WHERE l.from_document = $1""",
            doc_id,
        )
        links_in = await conn.fetch(
            """SELECT l.from_document, l.kind, d.edxml_document_id, d.received_at FROM document_links l
                 JOIN documents d ON d.id = l.from_document WHERE l.to_document = $1 ORDER BY d.received_at""",
            doc_id,
        )
    is_sender = letter["sender"] == agency.organ_id
    summary = json.loads(letter["summary"])
    recipients = []
    for d in deliveries:
        if not is_sender and d["recipient"] != agency.organ_id:
            continue  # a recipient sees its own line only
        own = [s for s in statuses if s["sender"] == d["recipient"] or s["status_code"] == "13"]
        recipients.append(
            {
                "organ_id": d["recipient"],
                "name": d["name"],
                "delivery_id": str(d["id"]),
                "state": d["state"],
                "available_at": _iso(d["available_at"]),
                "acknowledged_at": _iso(d["acknowledged_at"]),
                "failed_at": _iso(d["failed_at"]),
                "last_error": shown_error(d, agency.organ_id),
                "current_status": d["business_status"],
                "statuses": [_status_json(s) for s in own],
            }
        )
    recalled = {
        "asked": any(s["status_code"] == "13" for s in statuses)
        or any(r["kind"] == "recall" for r in links_in),
        "agreed_by": sorted({s["sender"] for s in statuses if s["status_code"] == "15"}),
        "refused_by": sorted({s["sender"] for s in statuses if s["status_code"] == "16"}),
    }
    return {
        "document_id": str(letter["id"]),
        "kind": letter["kind"],
        "sender": letter["sender"],
        "edxml_document_id": letter["edxml_document_id"],
        "business_type": letter["business_type"],
        "subject": letter["subject"],
        "signature": letter["signature"],
        "unsigned_legacy": letter["signature"] == "legacy",
        "received_at": letter["received_at"].isoformat(),
        "due_date": letter["due_date"].isoformat() if letter["due_date"] else None,
        # The signed bytes are never changed, so the axis's own hop is shown here, not appended.
        "hops": [
            *summary.get("trace", []),
            {"organ_id": "axis", "timestamp": letter["received_at"].isoformat()},
        ],
        "refers_to": [
            {
                "document_id": str(r["to_document"]),
                "kind": r["kind"],
                "edxml_document_id": r["edxml_document_id"],
            }
            for r in links_out
        ],
        "referred_by": [
            {
                "document_id": str(r["from_document"]),
                "kind": r["kind"],
                "edxml_document_id": r["edxml_document_id"],
                "received_at": r["received_at"].isoformat(),
            }
            for r in links_in
        ],
        "recall": recalled,
        "recipients": recipients,
    }


def _status_json(row: asyncpg.Record) -> dict[str, Any]:
    summary = json.loads(row["summary"])
    return {
        "status_document_id": str(row["id"]),
        "code": row["status_code"],
        "label_vi": summary.get("label_vi"),
        "label_en": summary.get("label_en"),
        "posted_by": row["sender"],
        "by": "axis" if row["signature"] == "axis" else "agency",
        "at": row["received_at"].isoformat(),
        "description": summary.get("description"),
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


async def ask_recall_for_clerk(
    hub: Hub, agency: Agency, letter_id: str, *, clerk: str, reason: str | None = None
) -> dict[str, Any]:
    """Status 13 (recall asked) for a letter `agency` sent, asked by a clerk on the pages. The
    agency's signing key is not on the axis, so the axis builds the Status and seals it, and the
    audit names the clerk who asked. Asking twice is 409: one recall request per letter."""
    from datetime import UTC, datetime  # kept local: this function is a late addition to the module

    doc_id = parse_id(letter_id, "document")
    async with hub.db.connection() as conn:
        letter = await conn.fetchrow(
            """SELECT doc.* FROM documents doc WHERE doc.id = $1 AND doc.kind = 'letter' AND (doc.sender = $2 OR
                 EXISTS (SELECT 1 FROM deliveries d WHERE d.document_id = doc.id AND d.recipient = $2))""",
            doc_id,
            agency.organ_id,
        )
    if letter is None:
        raise NotFound(f"no letter {letter_id} sent to or by {agency.organ_id}", where="document")
    if letter["sender"] != agency.organ_id:
        raise Forbidden("only the letter's sender may ask for it back (13)", where="document")
    code = f"{letter['code_number']}/{letter['code_notation']}" if letter["code_number"] else None
    message = edoc.StatusMessage(
        from_=edoc.Organization(organ_id=agency.organ_id, organ_name=agency.name),
        response_for=edoc.ResponseFor(
            organ_id=letter["sender"],
            code=code,
            document_id=letter["edxml_document_id"],
            promulgation_date=letter["promulgation_date"],
        ),
        status_code=edoc.StatusCode.RECALL_ASKED,
        timestamp=datetime.now(UTC),
        description=reason or "Đề nghị lấy lại văn bản (recall asked)",
        staff_info=edoc.StaffInfo(staff=clerk),
    )
    data = await asyncio.to_thread(hub.seal.sign_document, edoc.build(edoc.Package(header=message)))
    stored = await hub.blobs.put(data)
    status_id = uuid7()
    async with hub.db.connection() as conn, conn.transaction():
        # The letter's row lock makes two clerks asking at once ask once.
        await conn.execute("SELECT 1 FROM documents WHERE id = $1 FOR UPDATE", doc_id)
        if await conn.fetchval(
            "SELECT 1 FROM documents WHERE kind = 'status' AND responds_to = $1 AND status_code = '13'",
            doc_id,
        ):
            raise Conflict("a recall of this letter was already asked", where="document")
        targets = [
            r["recipient"]
            for r in await conn.fetch(
                "SELECT recipient FROM deliveries WHERE document_id = $1 ORDER BY seq", doc_id
            )
        ]
        deliveries = [(uuid7(), organ) for organ in targets]
        body: dict[str, Any] = {
            "document_id": str(status_id),
            "status": "accepted",
            "kind": "status",
            "status_code": "13",
            "responds_to": str(doc_id),
            "signature": "axis",
            "unsigned_legacy": False,
            "deliveries": [{"delivery_id": str(d), "recipient": o} for d, o in deliveries],
        }
        body["receipt"] = hub.seal.sign_json(
            {
                "type": "status_acceptance",
                "document_id": str(status_id),
                "responds_to": str(doc_id),
                "status_code": "13",
                "from": agency.organ_id,
                "sha256": stored.sha256,
                "deliveries": body["deliveries"],
            }
        )
        summary = {
            "status_code": "13",
            "label_vi": message.status_code.label_vi,
            "label_en": message.status_code.label_en,
            "from": agency.organ_id,
            "description": message.description,
            "timestamp": message.timestamp.isoformat(),
            "responds_to": str(doc_id),
            "staff": clerk,
        }
        await conn.execute(
            """INSERT INTO documents (id, kind, sender, edxml_document_id, business_type, status_code, content_sha256,
                   size, subject, signature, responds_to, summary, receipt)
               VALUES ($1, 'status', $2, $3, 0, '13', $4, $5, $6, 'axis', $7, $8::jsonb, $9::jsonb)""",
            status_id,
            agency.organ_id,
            letter["edxml_document_id"],
            stored.sha256,
            stored.size,
            letter["subject"],
            doc_id,
            json.dumps(summary, ensure_ascii=False),
            json.dumps(body, ensure_ascii=False),
        )
        await insert_deliveries(conn, status_id, deliveries)
        await repo.audit(
            conn,
            "status",
            organ_id=agency.organ_id,
            document_id=doc_id,
            details={
                "status_code": "13",
                "status_document_id": str(status_id),
                "recipient": None,
                "signature": "axis",
                "by": "clerk",
                "clerk": clerk,
                "reason": reason,
            },
        )
    metrics.STAGE.labels("status_13").inc()
    log.info("event=status document_id=%s from=%s code=13 clerk=%s", doc_id, agency.organ_id, clerk)
    return body
