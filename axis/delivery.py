"""Delivery of letters and statuses: the inbox, fetching, acknowledgement and the axis's own receipts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

import edoc
from axis import metrics, repo
from axis.agencies import Agency
from axis.errors import BadRequest, NotFound, Unauthorized
from axis.hub import Hub
from axis.ids import uuid7
from axis.ingest import insert_deliveries

log = logging.getLogger("axis.delivery")

MAX_WAIT = 60.0
MAX_LIMIT = 500

_ITEM = """
SELECT d.id AS delivery_id, d.seq, d.state, d.available_at, d.acknowledged_at, d.attempts, d.last_error,
       d.push_failing_since,
       d.recipient, doc.id AS document_id, doc.kind, doc.sender, doc.edxml_document_id, doc.business_type,
       doc.status_code, doc.subject, doc.code_number, doc.code_notation, doc.size, doc.signature,
       doc.received_at, doc.responds_to, doc.due_date, d.business_status, d.created_at
  FROM deliveries d JOIN documents doc ON doc.id = d.document_id
"""


# A letter's delivery is overdue when it was not acknowledged within the threshold ($3 seconds),
# or when its DueDate (a day in Vietnam) has passed without status 06 (done) or 02 (refused).
def overdue_condition(threshold_param: str) -> str:
    return f"""doc.kind = 'letter' AND d.state <> 'failed' AND (
    (d.state IN ('queued', 'available') AND d.created_at < now() - make_interval(secs => {threshold_param}))
    OR (doc.due_date IS NOT NULL AND doc.due_date < (now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date
        AND d.business_status IS DISTINCT FROM '06' AND d.business_status IS DISTINCT FROM '02'))"""


OVERDUE = overdue_condition("$3")


def is_overdue(row: asyncpg.Record, threshold: float, now: datetime | None = None) -> bool:
    if row["kind"] != "letter" or row["state"] == "failed":
        return False
    now = now or datetime.now(UTC)
    if (
        row["state"] in ("queued", "available")
        and (now - row["created_at"]).total_seconds() > threshold
    ):
        return True
    due = row["due_date"]
    today = now.astimezone(edoc.VN_TZ).date()
    return due is not None and due < today and row["business_status"] not in ("06", "02")


def shown_error(row: asyncpg.Record, viewer: str | None) -> str | None:
    """A delivery's last error as `viewer` may see it.

    A failed push's error names the recipient's webhook (host, port, what its server answered):
    the recipient itself and the operator see it, but a sender sees only that pushes are failing,
    since when, and how many attempts. An error that is not a push's (a VDXP recipient's refusal)
    is the recipient's message to the sender and shows as written.
    """
    error: str | None = row["last_error"]
    since = row["push_failing_since"]
    if error is None or since is None or viewer is None or viewer == row["recipient"]:
        return error
    return f"push failing since {since.astimezone(UTC).isoformat(timespec='seconds')}, attempt {row['attempts']}"


def item_json(
    row: asyncpg.Record, overdue_after: float | None = None, *, viewer: str | None = None
) -> dict[str, Any]:
    """A delivery as the API shows it; `viewer` is the agency asking when it may not be the recipient."""
    return {
        "delivery_id": str(row["delivery_id"]),
        "document_id": str(row["document_id"]),
        "kind": row["kind"],
        "sender": row["sender"],
        "recipient": row["recipient"],
        "state": row["state"],
        "edxml_document_id": row["edxml_document_id"],
        "business_type": row["business_type"],
        "status_code": row["status_code"],
        "responds_to": str(row["responds_to"]) if row["responds_to"] else None,
        "subject": row["subject"],
        "code": f"{row['code_number']}/{row['code_notation']}" if row["code_number"] else None,
        "size": row["size"],
        "signature": row["signature"],
        "unsigned_legacy": row["signature"] == "legacy",
        "received_at": row["received_at"].isoformat(),
        "available_at": row["available_at"].isoformat() if row["available_at"] else None,
        "acknowledged_at": row["acknowledged_at"].isoformat() if row["acknowledged_at"] else None,
        "attempts": row["attempts"],
        "last_error": shown_error(row, viewer),
        "business_status": row["business_status"],
        "due_date": row["due_date"].isoformat() if row["due_date"] else None,
        "overdue": overdue_after is not None and is_overdue(row, overdue_after),
    }


async def inbox(
    hub: Hub, agency: Agency, *, wait: float = 0.0, limit: int = 100
) -> list[dict[str, Any]]:
    """Deliveries available to `agency`, oldest first; with `wait`, returns as soon as one arrives."""
    if not 0 <= wait <= MAX_WAIT:
        raise BadRequest(f"wait must be between 0 and {MAX_WAIT:g} seconds", where="wait")
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}", where="limit")
    event = hub.inbox.register(agency.organ_id)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        woken = False
        while True:
            event.clear()
            async with hub.db.connection() as conn:
                if woken:
                    # The agency may have been disabled or its token rotated while this call waited.
                    await _still_authorized(conn, agency)
                rows = await conn.fetch(
                    _ITEM
                    + " WHERE d.recipient = $1 AND d.state = 'available' ORDER BY d.seq LIMIT $2",
                    agency.organ_id,
                    limit,
                )
            remaining = deadline - loop.time()
            if rows or remaining <= 0:
                return [item_json(r) for r in rows]
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)
            woken = True
    finally:
        hub.inbox.unregister(agency.organ_id, event)


async def _still_authorized(conn: asyncpg.Connection, agency: Agency) -> None:
    row = await conn.fetchrow(
        "SELECT active, token_hash FROM agencies WHERE organ_id = $1", agency.organ_id
    )
    if row is None or row["token_hash"] != agency.token_hash:
        raise Unauthorized("the API token is not valid", where="Authorization")
    if not row["active"]:
        raise Unauthorized(f"agency {agency.organ_id} is disabled", where="Authorization")


async def deliveries(
    hub: Hub, agency: Agency, *, state: str | None, role: str, limit: int
) -> list[dict[str, Any]]:
    """Deliveries of the letters `agency` sent (role=sent) or received (role=received), by state."""
    states = ("queued", "available", "acknowledged", "failed", "overdue")
    if state is not None and state not in states:
        raise BadRequest(f"state must be one of {', '.join(states)}", where="state")
    if role not in ("sent", "received"):
        raise BadRequest("role must be sent or received", where="role")
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}", where="limit")
    column = "doc.sender" if role == "sent" else "d.recipient"
    threshold = hub.config.ack_overdue_seconds
    async with hub.db.connection() as conn:
        if state == "overdue":
            rows = await conn.fetch(
                _ITEM + f" WHERE {column} = $1 AND {OVERDUE} ORDER BY d.seq DESC LIMIT $2",
                agency.organ_id,
                limit,
                threshold,
            )
        else:
            rows = await conn.fetch(
                _ITEM
                + f" WHERE {column} = $1 AND ($2::text IS NULL OR d.state = $2) ORDER BY d.seq DESC LIMIT $3",
                agency.organ_id,
                state,
                limit,
            )
    return [item_json(r, threshold, viewer=agency.organ_id) for r in rows]


def parse_id(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"no {what} {value!r}", where=what) from None


async def document_for(hub: Hub, agency: Agency, document_id: str) -> asyncpg.Record:
    """The document row, if `agency` sent it or is one of its recipients; 404 otherwise (no leak)."""
    doc_id = parse_id(document_id, "document")
    async with hub.db.connection() as conn:
        row = await conn.fetchrow(
            """SELECT doc.* FROM documents doc
                WHERE doc.id = $1 AND (doc.sender = $2 OR EXISTS
                      (SELECT 1 FROM deliveries d WHERE d.document_id = doc.id AND d.recipient = $2))""",
            doc_id,
            agency.organ_id,
        )
    if row is None:
        raise NotFound(
            f"no document {document_id} addressed to or sent by {agency.organ_id}", where="document"
        )
    return row


def _storable_text(value: str) -> bool:
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def attachment_for(hub: Hub, agency: Agency, document_id: str, ref: str) -> asyncpg.Record:
    doc = await document_for(hub, agency, document_id)
    if not _storable_text(ref):
        # PostgreSQL text holds neither NUL nor lone surrogates: no stored ContentId can match.
        raise NotFound(f"document {document_id} has no attachment {ref!r}", where="attachment")
    async with hub.db.connection() as conn:
        row = await conn.fetchrow(
            """SELECT * FROM document_attachments
                WHERE document_id = $1 AND (position::text = $2 OR content_id = $2 OR content_id = $3)""",
            doc["id"],
            ref,
            ref.removeprefix("cid:"),
        )
    if row is None:
        raise NotFound(f"document {document_id} has no attachment {ref!r}", where="attachment")
    return row


async def make_available(hub: Hub, delivery_id: uuid.UUID) -> bool:
    """A pull delivery reached its agency's queue: it shows in the inbox. Idempotent."""
    # One statement: the state change, its audit entry and the wake-ups commit together.
    async with hub.db.connection() as conn:
        recipient = await conn.fetchval(
            """WITH d AS (UPDATE deliveries SET state = 'available', available_at = now()
                           WHERE id = $1 AND state = 'queued' RETURNING id, recipient, document_id),
                    a AS (INSERT INTO audit_events (event, organ_id, document_id, delivery_id, details)
                          SELECT 'delivered', recipient, document_id, id, '{"via": "inbox"}'::jsonb FROM d)
               SELECT d.recipient, pg_notify($2, d.recipient), pg_notify($3, '') FROM d""",
            delivery_id,
            repo.INBOX_CHANNEL,
            repo.AUDIT_CHANNEL,
        )
        if recipient is None:
            return False
    metrics.STAGE.labels("available").inc()
    return True


async def acknowledge(hub: Hub, agency: Agency, delivery_id: str) -> dict[str, Any]:
    """The recipient has the letter: record it once, and tell the sender with status 01 (arrived)."""
    did = parse_id(delivery_id, "delivery")
    async with hub.db.connection() as conn:
        row = await conn.fetchrow(
            _ITEM + " WHERE d.id = $1 AND d.recipient = $2", did, agency.organ_id
        )
    if row is None:
        raise NotFound(f"no delivery {delivery_id} for {agency.organ_id}", where="delivery")
    status_blob = None
    if row["kind"] == "letter" and row["state"] != "acknowledged":
        status_blob = await _arrived_status(hub, row, agency)
    async with hub.db.connection() as conn, conn.transaction():
        changed = await mark_acknowledged(conn, did, status_blob, via="api")
        final = await conn.fetchrow(_ITEM + " WHERE d.id = $1", did)
    result = item_json(final)
    result["already_acknowledged"] = not changed
    return result


async def mark_acknowledged(
    conn: asyncpg.Connection,
    delivery_id: uuid.UUID,
    status_blob: tuple[bytes, str] | None,
    *,
    via: str,
) -> bool:
    """In the caller's transaction: acknowledged once; for a letter, a status 01 goes to its sender."""
    row = await conn.fetchrow(_ITEM + " WHERE d.id = $1 FOR UPDATE OF d", delivery_id)
    if row is None or row["state"] == "acknowledged":
        return False
    await conn.execute(
        """UPDATE deliveries SET state = 'acknowledged', acknowledged_at = now(), last_error = NULL,
                  business_status = COALESCE(business_status, CASE WHEN $2 THEN '01' END),
                  business_status_at = CASE WHEN business_status IS NULL AND $2 THEN now() ELSE business_status_at END
            WHERE id = $1""",
        delivery_id,
        row["kind"] == "letter",
    )
    if via == "push":
        await repo.audit(
            conn,
            "delivered",
            organ_id=row["recipient"],
            document_id=row["document_id"],
            delivery_id=delivery_id,
            details={"via": "webhook"},
        )
    await repo.audit(
        conn,
        "acknowledged",
        organ_id=row["recipient"],
        document_id=row["document_id"],
        delivery_id=delivery_id,
        details={"via": via},
    )
    metrics.STAGE.labels("acknowledged").inc()
    if row["kind"] == "letter" and status_blob is not None:
        data, sha = status_blob
        status_id = uuid7()
        summary = {
            "status_code": "01",
            "from": row["recipient"],
            "responds_to": str(row["document_id"]),
            "label_vi": "đã đến",
            "label_en": "arrived",
        }
        await conn.execute(
            """INSERT INTO documents (id, kind, sender, edxml_document_id, business_type, status_code,
                   content_sha256, size, subject, signature, responds_to, summary)
               VALUES ($1, 'status', $2, $3, 0, '01', $4, $5, $6, 'axis', $7, $8::jsonb)""",
            status_id,
            row["recipient"],
            row["edxml_document_id"],
            sha,
            len(data),
            row["subject"],
            row["document_id"],
            json.dumps(summary, ensure_ascii=False),
        )
        await insert_deliveries(conn, status_id, [(uuid7(), row["sender"])])
        await repo.audit(
            conn,
            "status",
            organ_id=row["recipient"],
            document_id=row["document_id"],
            delivery_id=delivery_id,
            details={"status_code": "01", "status_document_id": str(status_id), "by": "axis"},
        )
    return True


async def _arrived_status(hub: Hub, row: asyncpg.Record, recipient: Agency) -> tuple[bytes, str]:
    """Status 01 in edXML, From the recipient, sealed by the axis, stored in the blob store."""
    async with hub.db.connection() as conn:
        letter = await conn.fetchrow(
            "SELECT code_number, code_notation, promulgation_date, summary FROM documents WHERE id = $1",
            row["document_id"],
        )
    code = f"{letter['code_number']}/{letter['code_notation']}" if letter["code_number"] else None
    status = edoc.StatusMessage(
        from_=edoc.Organization(organ_id=recipient.organ_id, organ_name=recipient.name),
        response_for=edoc.ResponseFor(
            organ_id=row["sender"],
            code=code,
            document_id=row["edxml_document_id"],
            promulgation_date=letter["promulgation_date"],
        ),
        status_code=edoc.StatusCode.ARRIVED,
        timestamp=datetime.now(UTC),
        description="Đã đến (arrived): xác nhận bởi trục liên thông khi đơn vị nhận tải văn bản",
    )
    data = await asyncio.to_thread(hub.seal.sign_document, edoc.build(edoc.Package(header=status)))
    stored = await hub.blobs.put(data)
    return data, stored.sha256
