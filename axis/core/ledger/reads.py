"""The ledger's queries: the one visibility rule, documents, deliveries, the inbox (filtered by
kind and date in SQL), the sent and received lists, and a letter's trace."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from axis.core.ledger import rules
from axis.core.ledger.records import (
    Arrival,
    DeliveryItem,
    Link,
    RecallState,
    StatusEntry,
    StatusSeal,
    StoredAttachment,
    StoredDocument,
    Trace,
    TraceLine,
)
from storage.db import plan_on_keys


def visible_to(organ_param: str) -> str:
    """The one rule for "may this agency see this document": it sent it, or it is one of its
    recipients. SQL over `documents doc`; `organ_param` is the bound organ id ($n)."""
    return f"""(doc.sender = {organ_param} OR EXISTS
        (SELECT 1 FROM deliveries vd WHERE vd.document_id = doc.id AND vd.recipient = {organ_param}))"""


#: A DeliveryItem's columns over `d` (a delivery's row), `doc` (its document) and `ra` (its recipient).
ITEM_COLUMNS = """
       d.id AS delivery_id, d.seq, d.state, d.available_at, d.acknowledged_at, d.attempts, d.last_error,
       d.push_failing_since, d.recipient, ra.name AS recipient_name, d.business_status, d.created_at,
       doc.id AS document_id, doc.kind, doc.sender, doc.edxml_document_id, doc.business_type,
       doc.status_code, doc.subject, doc.code_number, doc.code_notation, doc.promulgation_date,
       doc.size, doc.signature, doc.received_at, doc.responds_to, doc.due_date, doc.content_sha256
"""

_ITEM = f"""
SELECT {ITEM_COLUMNS}
  FROM deliveries d JOIN documents doc ON doc.id = d.document_id
  JOIN agencies ra ON ra.organ_id = d.recipient
"""

KINDS = ("letter", "status")


async def delivery(
    conn: asyncpg.Connection,
    delivery_id: uuid.UUID,
    *,
    recipient: str | None = None,
    lock: bool = False,
) -> DeliveryItem | None:
    """One delivery (of `recipient`'s, when given); `lock` takes its row for the transaction."""
    row = await conn.fetchrow(
        _ITEM
        + " WHERE d.id = $1 AND ($2::text IS NULL OR d.recipient = $2)"
        + (" FOR UPDATE OF d" if lock else ""),
        delivery_id,
        recipient,
    )
    return DeliveryItem.from_row(row) if row is not None else None


async def deliveries_by_id(
    conn: asyncpg.Connection, delivery_ids: Sequence[uuid.UUID]
) -> list[DeliveryItem]:
    """Deliveries by id, whoever their recipients (the caller filters)."""
    rows = await conn.fetch(_ITEM + " WHERE d.id = ANY($1::uuid[])", list(delivery_ids))
    return [DeliveryItem.from_row(r) for r in rows]


async def delivery_of(
    conn: asyncpg.Connection, document_id: uuid.UUID, recipient: str, *, lock: bool = False
) -> DeliveryItem | None:
    """`recipient`'s delivery of a document."""
    row = await conn.fetchrow(
        _ITEM
        + " WHERE d.document_id = $1 AND d.recipient = $2"
        + (" FOR UPDATE OF d" if lock else ""),
        document_id,
        recipient,
    )
    return DeliveryItem.from_row(row) if row is not None else None


def _inbox_filters(
    kind: str | None, since: datetime | None, until: datetime | None, args: list[object]
) -> str:
    """The SQL of the filters given (appending their values to `args`). Only those given are in
    the statement: each combination is its own prepared statement, which PostgreSQL can plan
    once, where `($n IS NULL OR …)` would be planned again at every call."""
    sql = ""
    for value, condition in (
        (kind, "doc.kind = ${}"),
        (since, "doc.received_at >= ${}"),
        (until, "doc.received_at <= ${}"),
    ):
        if value is not None:
            args.append(value)
            sql += " AND " + condition.format(len(args))
    return sql


async def inbox(
    conn: asyncpg.Connection,
    recipients: Sequence[str],
    *,
    limit: int,
    kind: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_seq: int = 0,
) -> list[DeliveryItem]:
    """Deliveries available to any of `recipients`, oldest first, of `kind` and received by the
    axis between `since` and `until` (inclusive) when given; `after_seq` pages on."""
    args: list[object] = [list(recipients), after_seq, limit]
    filters = _inbox_filters(kind, since, until, args)
    rows = await conn.fetch(
        _ITEM
        + " WHERE d.recipient = ANY($1::text[]) AND d.state = 'available' AND d.seq > $2"
        + filters
        + " ORDER BY d.seq LIMIT $3",
        *args,
    )
    return [DeliveryItem.from_row(r) for r in rows]


async def count_inbox(
    conn: asyncpg.Connection,
    recipients: Sequence[str],
    *,
    kind: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """How many deliveries `inbox` would give with the same filters, all of them."""
    args: list[object] = [list(recipients)]
    filters = _inbox_filters(kind, since, until, args)
    count: int = await conn.fetchval(
        "SELECT count(*) FROM deliveries d JOIN documents doc ON doc.id = d.document_id"
        " WHERE d.recipient = ANY($1::text[]) AND d.state = 'available'" + filters,
        *args,
    )
    return count


async def deliveries(
    conn: asyncpg.Connection,
    organ_id: str,
    *,
    role: str,
    state: str | None,
    limit: int,
    overdue_after: float,
) -> list[DeliveryItem]:
    """Deliveries of what `organ_id` sent (role 'sent') or received ('received'), newest first;
    state 'overdue' applies rules.overdue_condition."""
    column = "doc.sender" if role == "sent" else "d.recipient"
    if state == "overdue":
        rows = await conn.fetch(
            _ITEM
            + f" WHERE {column} = $1 AND {rules.overdue_condition('$3')} ORDER BY d.seq DESC LIMIT $2",
            organ_id,
            limit,
            overdue_after,
        )
    else:
        rows = await conn.fetch(
            _ITEM
            + f" WHERE {column} = $1 AND ($2::text IS NULL OR d.state = $2) ORDER BY d.seq DESC LIMIT $3",
            organ_id,
            state,
            limit,
        )
    return [DeliveryItem.from_row(r) for r in rows]


async def visible_document(
    conn: asyncpg.Connection, organ_id: str, document_id: uuid.UUID, *, kind: str | None = None
) -> StoredDocument | None:
    """The document if `organ_id` may see it (visible_to), else None: no agency learns whether
    a document it may not see exists."""
    row = await conn.fetchrow(
        f"""SELECT doc.* FROM documents doc
             WHERE doc.id = $1 AND ($3::text IS NULL OR doc.kind = $3) AND {visible_to("$2")}""",
        document_id,
        organ_id,
        kind,
    )
    return StoredDocument.from_row(row) if row is not None else None


async def letter_by_reference(
    conn: asyncpg.Connection, viewer: str, edxml_document_id: str, sender: str
) -> StoredDocument | None:
    """The letter a ResponseFor names (DocumentId and the sender's OrganId) that `viewer` may see:
    the original before a recall or update of it, then the newest."""
    row = await conn.fetchrow(
        f"""SELECT doc.* FROM documents doc
             WHERE doc.kind = 'letter' AND doc.edxml_document_id = $1 AND doc.sender = $2
               AND {visible_to("$3")}
             ORDER BY doc.business_type = 0, doc.received_at DESC LIMIT 1""",
        edxml_document_id,
        sender,
        viewer,
    )
    return StoredDocument.from_row(row) if row is not None else None


async def own_original(
    conn: asyncpg.Connection, sender: str, edxml_document_id: str
) -> uuid.UUID | None:
    """The id of `sender`'s own original letter (business type 0) with this DocumentId."""
    found: uuid.UUID | None = await conn.fetchval(
        """SELECT id FROM documents
            WHERE kind = 'letter' AND edxml_document_id = $1 AND business_type = 0 AND sender = $2""",
        edxml_document_id,
        sender,
    )
    return found


async def earlier_letter(
    conn: asyncpg.Connection, sender: str, edxml_document_id: str, business_type: int
) -> tuple[str, dict[str, object]] | None:
    """A letter already taken with this identity: the sha256 of the bytes received, and the
    acceptance first answered."""
    row = await conn.fetchrow(
        """SELECT COALESCE(received_sha256, content_sha256) AS sha, receipt FROM documents
            WHERE kind = 'letter' AND sender = $1 AND edxml_document_id = $2 AND business_type = $3""",
        sender,
        edxml_document_id,
        business_type,
    )
    if row is None:
        return None
    return row["sha"], json.loads(row["receipt"])


async def earlier_status(
    conn: asyncpg.Connection, sender: str, letter_id: uuid.UUID, received_sha256: str
) -> dict[str, object] | None:
    """The acceptance of the same status package (same bytes) posted before, if any."""
    receipt = await conn.fetchval(
        """SELECT receipt FROM documents WHERE kind = 'status' AND sender = $1 AND responds_to = $2
             AND COALESCE(received_sha256, content_sha256) = $3""",
        sender,
        letter_id,
        received_sha256,
    )
    return json.loads(receipt) if receipt is not None else None


async def attachment(
    conn: asyncpg.Connection, document_id: uuid.UUID, ref: str
) -> StoredAttachment | None:
    """An attachment by position, ContentId or cid:ContentId."""
    row = await conn.fetchrow(
        """SELECT a.*, d.content_sha256 AS package_sha256
             FROM document_attachments a JOIN documents d ON d.id = a.document_id
            WHERE a.document_id = $1
              AND (a.position::text = $2 OR a.content_id = $2 OR a.content_id = $3)""",
        document_id,
        ref,
        ref.removeprefix("cid:"),
    )
    return StoredAttachment.from_row(row) if row is not None else None


async def attachments(conn: asyncpg.Connection, document_id: uuid.UUID) -> list[StoredAttachment]:
    rows = await conn.fetch(
        """SELECT a.*, d.content_sha256 AS package_sha256
             FROM document_attachments a JOIN documents d ON d.id = a.document_id
            WHERE a.document_id = $1 ORDER BY a.position""",
        document_id,
    )
    return [StoredAttachment.from_row(r) for r in rows]


async def stored_bytes(conn: asyncpg.Connection, sha256: str) -> bytes | None:
    """A small package's bytes, kept in the database (None when it is in the blob store)."""
    data: bytes | None = await conn.fetchval(
        "SELECT data FROM stored_bytes WHERE sha256 = $1", sha256
    )
    return data


async def stored_bytes_many(conn: asyncpg.Connection, sha256s: Sequence[str]) -> dict[str, bytes]:
    """The bytes of those of `sha256s` kept in the database, by SHA-256, in one round trip."""
    rows = await conn.fetch(
        "SELECT sha256, data FROM stored_bytes WHERE sha256 = ANY($1::text[])", list(sha256s)
    )
    return {r["sha256"]: r["data"] for r in rows}


async def recipients_of(conn: asyncpg.Connection, letter_id: uuid.UUID) -> list[str]:
    """A letter's recipients in the order its deliveries were made."""
    rows = await conn.fetch(
        "SELECT recipient FROM deliveries WHERE document_id = $1 ORDER BY seq", letter_id
    )
    return [r["recipient"] for r in rows]


async def recall_asked(conn: asyncpg.Connection, letter_id: uuid.UUID) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM documents WHERE kind = 'status' AND responds_to = $1 AND status_code = '13'",
            letter_id,
        )
    )


async def lock_letter(conn: asyncpg.Connection, letter_id: uuid.UUID) -> None:
    """Holds the letter's row for the transaction: two requests about it go one after the other."""
    await conn.execute("SELECT 1 FROM documents WHERE id = $1 FOR UPDATE", letter_id)


async def arrivals_to_seal(
    conn: asyncpg.Connection, limit: int, *, delivery_id: uuid.UUID | None = None
) -> list[Arrival]:
    """Acknowledged letters whose status 01 is still to be sealed, oldest acknowledgement first,
    taken for the caller's transaction. The sealer skips rows another one holds; asking for one
    `delivery_id` waits for it instead (a status posted right after must follow its 01). The
    rest of the caller's transaction (the sealer's writes by delivery id) is planned on indexes."""
    await plan_on_keys(conn)
    rows = await conn.fetch(
        """SELECT a.delivery_id, a.acknowledged_at, d.recipient, ra.name AS recipient_name,
                  doc.id AS letter_id, doc.sender, doc.edxml_document_id, doc.code_number,
                  doc.code_notation, doc.promulgation_date, doc.subject
             FROM arrivals a JOIN deliveries d ON d.id = a.delivery_id
             JOIN documents doc ON doc.id = d.document_id
             JOIN agencies ra ON ra.organ_id = d.recipient
            WHERE a.status_id IS NULL AND ($2::uuid IS NULL OR a.delivery_id = $2)
            ORDER BY a.acknowledged_at, a.delivery_id LIMIT $1
              FOR UPDATE OF a"""
        + (" SKIP LOCKED" if delivery_id is None else ""),
        limit,
        delivery_id,
    )
    return [Arrival.from_row(r) for r in rows]


async def arrivals_waiting(conn: asyncpg.Connection) -> int:
    """How many acknowledged letters wait for their status 01 to be sealed."""
    count: int = await conn.fetchval("SELECT count(*) FROM arrivals WHERE status_id IS NULL")
    return count


async def status_seal(conn: asyncpg.Connection, status_id: uuid.UUID) -> StatusSeal | None:
    """The batch seal of a status the axis sealed in a batch (status 01), if it is one."""
    row = await conn.fetchrow(
        """SELECT a.status_id, doc.responds_to, doc.content_sha256, a.leaf, a.leaf_index, a.path, b.sealed
             FROM arrivals a JOIN status_batches b ON b.id = a.batch_id
             JOIN documents doc ON doc.id = a.status_id
            WHERE a.status_id = $1""",
        status_id,
    )
    return StatusSeal.from_row(row) if row is not None else None


async def trace(conn: asyncpg.Connection, letter: StoredDocument, viewer: str) -> Trace:
    """A letter's life as `viewer` (who may see it) sees it: per recipient every status with time
    and poster (a recipient sees its own line only), its links and where a recall stands."""
    deliveries = await conn.fetch(
        """SELECT d.*, a.name FROM deliveries d JOIN agencies a ON a.organ_id = d.recipient
            WHERE d.document_id = $1 ORDER BY d.seq""",
        letter.id,
    )
    statuses = await conn.fetch(
        """SELECT id, sender, status_code, received_at, signature, summary FROM documents
            WHERE kind = 'status' AND responds_to = $1 ORDER BY received_at, id""",
        letter.id,
    )
    links_out = await conn.fetch(
        """SELECT l.to_document, l.kind, d.edxml_document_id FROM document_links l
             JOIN documents d ON d.id = l.to_document WHERE l.from_document = $1""",
        letter.id,
    )
    links_in = await conn.fetch(
        """SELECT l.from_document, l.kind, d.edxml_document_id, d.received_at FROM document_links l
             JOIN documents d ON d.id = l.from_document WHERE l.to_document = $1 ORDER BY d.received_at""",
        letter.id,
    )
    is_sender = letter.sender == viewer
    entries = [(s, _status_entry(s)) for s in statuses]
    lines = []
    for d in deliveries:
        if not is_sender and d["recipient"] != viewer:
            continue
        own = [e for s, e in entries if s["sender"] == d["recipient"] or s["status_code"] == "13"]
        lines.append(
            TraceLine(
                organ_id=d["recipient"],
                name=d["name"],
                delivery_id=d["id"],
                state=d["state"],
                created_at=d["created_at"],
                available_at=d["available_at"],
                acknowledged_at=d["acknowledged_at"],
                failed_at=d["failed_at"],
                last_error=rules.shown_error(
                    d["last_error"],
                    since=d["push_failing_since"],
                    attempts=d["attempts"],
                    recipient=d["recipient"],
                    viewer=viewer,
                ),
                current_status=d["business_status"],
                business_status=d["business_status"],
                due_date=letter.due_date,
                statuses=own,
            )
        )
    recall = RecallState(
        asked=any(s["status_code"] == "13" for s in statuses)
        or any(r["kind"] == "recall" for r in links_in),
        agreed_by=sorted({s["sender"] for s in statuses if s["status_code"] == "15"}),
        refused_by=sorted({s["sender"] for s in statuses if s["status_code"] == "16"}),
    )
    return Trace(
        document=letter,
        refers_to=[Link(r["to_document"], r["kind"], r["edxml_document_id"]) for r in links_out],
        referred_by=[
            Link(r["from_document"], r["kind"], r["edxml_document_id"], r["received_at"])
            for r in links_in
        ],
        recall=recall,
        recipients=lines,
    )


def _status_entry(row: asyncpg.Record) -> StatusEntry:
    summary = json.loads(row["summary"])
    return StatusEntry(
        document_id=row["id"],
        code=row["status_code"],
        label_vi=summary.get("label_vi"),
        label_en=summary.get("label_en"),
        posted_by=row["sender"],
        by="axis" if row["signature"] in ("axis", "axis-batch") else "agency",
        at=row["received_at"],
        description=summary.get("description"),
    )
