"""Every write to a letter's tables: documents, document_attachments, document_links, deliveries,
outbox, and the audit entry of each transition, in the caller's transaction.

Each function takes the caller's connection and writes nothing else, so a service composes several
steps (accept a letter; acknowledge and answer with status 01) in one transaction. No other module
writes these tables."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import asyncpg

from axis import metrics
from axis.core import repo
from axis.core.ledger import reads, rules
from axis.core.ledger.records import (
    AckRequest,
    DeliveryItem,
    NewDelivery,
    SealedArrival,
    StoredDocument,
)
from storage.db import notify, plan_on_keys


@dataclass(frozen=True)
class NewAttachment:
    content_id: str
    name: str
    content_type: str
    description: str | None
    size: int
    sha256: str


@dataclass(frozen=True)
class NewLetter:
    id: uuid.UUID
    sender: str
    edxml_document_id: str
    business_type: int
    stored_sha256: str  # the bytes kept (sealed by the axis for an unsigned legacy letter)
    received_sha256: str  # the bytes as received: what de-duplication compares
    size: int
    code_number: str | None
    code_notation: str | None
    subject: str | None
    type_name: str | None
    promulgation_date: date | None
    due_date: date | None
    signature: str
    signer_fingerprint: str | None
    summary: dict[str, Any]
    acceptance: dict[str, Any]
    received_at: datetime
    links: list[tuple[uuid.UUID, str]]
    attachments: list[NewAttachment]
    deliveries: list[NewDelivery]
    audit: dict[str, Any] = field(default_factory=dict)
    #: The kept package's bytes when small enough to live in the database (stored_bytes);
    #: None when they are in the blob store.
    inline: bytes | None = None


@dataclass(frozen=True)
class NewStatus:
    id: uuid.UUID
    sender: str
    letter: StoredDocument
    code: str
    stored_sha256: str
    size: int
    signature: str  # "xmldsig", "legacy" or "axis" (made and sealed by the axis)
    signer_fingerprint: str | None
    summary: dict[str, Any]
    acceptance: dict[str, Any] | None  # None for a status nobody posted (01 by the axis)
    received_sha256: str | None
    deliveries: list[NewDelivery]
    audit: dict[str, Any]
    #: The delivery the status is about, when one recipient's line changes with it.
    audit_delivery_id: uuid.UUID | None = None
    #: The package's bytes when they live in the database (see NewLetter.inline).
    inline: bytes | None = None


_dumps = repo.jsonb


async def insert_letter(conn: asyncpg.Connection, letter: NewLetter) -> None:
    """A letter, its links, attachments, one delivery per recipient, and its audit entries.
    A concurrent identical letter raises asyncpg.UniqueViolationError (documents_letter_identity)."""
    await insert_letters(conn, [letter])


# The letters of a batch in one statement, in the order given (a refused row refuses them all).
_INSERT_LETTERS = """
    INSERT INTO documents (id, kind, sender, edxml_document_id, business_type, content_sha256, size,
        code_number, code_notation, subject, type_name, promulgation_date, due_date, signature,
        signer_fingerprint, summary, receipt, received_at, received_sha256, responds_to)
    SELECT id, 'letter', sender, edxml_id, business_type, sha, size, code_number, code_notation,
           subject, type_name, promulgation_date, due_date, signature, signer, summary::jsonb,
           receipt::jsonb, received_at, received_sha, responds_to
      FROM unnest($1::uuid[], $2::text[], $3::text[], $4::smallint[], $5::text[], $6::bigint[],
                  $7::text[], $8::text[], $9::text[], $10::text[], $11::date[], $12::date[],
                  $13::text[], $14::text[], $15::text[], $16::text[], $17::timestamptz[],
                  $18::text[], $19::uuid[])
           WITH ORDINALITY AS l(id, sender, edxml_id, business_type, sha, size, code_number,
                                code_notation, subject, type_name, promulgation_date, due_date,
                                signature, signer, summary, receipt, received_at, received_sha,
                                responds_to, n)
     ORDER BY n"""


async def insert_letters(conn: asyncpg.Connection, letters: Sequence[NewLetter]) -> None:
    """Many letters in the caller's transaction, set-based: one statement per table, whatever
    their number (ledger.batch commits the letters that arrive together this way). Each gets its
    documents row, links, attachments, its small package's bytes (`inline`), an 'accepted'
    audit entry, then one delivery per recipient (_insert_deliveries). Any row refused (an
    identical letter already stored) refuses them all: the caller retries them one by one."""
    if not letters:
        return
    columns = list(
        zip(
            *(
                (
                    letter.id,
                    letter.sender,
                    letter.edxml_document_id,
                    letter.business_type,
                    letter.stored_sha256,
                    letter.size,
                    letter.code_number,
                    letter.code_notation,
                    letter.subject,
                    letter.type_name,
                    letter.promulgation_date,
                    letter.due_date,
                    letter.signature,
                    letter.signer_fingerprint,
                    _dumps(letter.summary),
                    _dumps(letter.acceptance),
                    letter.received_at,
                    letter.received_sha256,
                    letter.links[0][0] if letter.links else None,
                )
                for letter in letters
            ),
            strict=True,
        )
    )
    await conn.execute(_INSERT_LETTERS, *columns)
    links = [(letter.id, target, kind) for letter in letters for target, kind in letter.links]
    if links:
        await conn.execute(
            """INSERT INTO document_links (from_document, to_document, kind)
               SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[])""",
            *zip(*links, strict=True),
        )
    attachments = [
        (letter.id, i, a.content_id, a.name, a.content_type, a.description, a.size, a.sha256)
        for letter in letters
        for i, a in enumerate(letter.attachments, start=1)
    ]
    if attachments:
        await conn.execute(
            """INSERT INTO document_attachments
                   (document_id, position, content_id, name, content_type, description, size, sha256)
               SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::text[],
                                    $6::text[], $7::bigint[], $8::text[])""",
            *zip(*attachments, strict=True),
        )
    await _insert_inline(conn, [(letter.stored_sha256, letter.inline) for letter in letters])
    await repo.audit_many(
        conn,
        [("accepted", letter.sender, letter.id, None, letter.audit) for letter in letters],
    )
    await _insert_deliveries(
        conn, [(letter.id, d) for letter in letters for d in letter.deliveries]
    )


async def insert_status(conn: asyncpg.Connection, status: NewStatus) -> None:
    """A status about a letter, its 'status' audit entry (recorded against the letter, so the
    letter's proof shows it), and its deliveries."""
    await conn.execute(
        """INSERT INTO documents (id, kind, sender, edxml_document_id, business_type, status_code, content_sha256,
               size, subject, signature, signer_fingerprint, responds_to, summary, receipt, received_sha256)
           VALUES ($1, 'status', $2, $3, 0, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12::jsonb, $13)""",
        status.id,
        status.sender,
        status.letter.edxml_document_id,
        status.code,
        status.stored_sha256,
        status.size,
        status.letter.subject,
        status.signature,
        status.signer_fingerprint,
        status.letter.id,
        _dumps(status.summary),
        _dumps(status.acceptance) if status.acceptance is not None else None,
        status.received_sha256,
    )
    await _insert_inline(conn, [(status.stored_sha256, status.inline)])
    await repo.audit(
        conn,
        "status",
        organ_id=status.sender,
        document_id=status.letter.id,
        delivery_id=status.audit_delivery_id,
        details=status.audit,
    )
    await _insert_deliveries(conn, [(status.id, d) for d in status.deliveries])


async def _insert_inline(
    conn: asyncpg.Connection, items: Sequence[tuple[str, bytes | None]]
) -> None:
    """Small packages' bytes, kept in the database (stored_bytes) so the commit makes them durable;
    content-addressed, so bytes already there are left as they are."""
    rows = list({sha: (sha, len(data), data) for sha, data in items if data is not None}.values())
    if rows:
        await conn.execute(
            """INSERT INTO stored_bytes (sha256, size, data)
               SELECT * FROM unnest($1::text[], $2::int[], $3::bytea[])
               ON CONFLICT (sha256) DO NOTHING""",
            *zip(*rows, strict=True),
        )


async def _insert_deliveries(
    conn: asyncpg.Connection, deliveries: Sequence[tuple[uuid.UUID, NewDelivery]]
) -> None:
    """One delivery per (document, recipient), in one statement. A pull agency's delivery is
    available at once (audited 'delivered', its long-polls woken after the commit): nothing but
    this commit stands between a letter and its recipient's inbox. A push agency's gets an outbox
    row, which the relay publishes for the dispatcher to push in sending order."""
    if not deliveries:
        return
    rows = await conn.fetch(
        """WITH v AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[])
                           WITH ORDINALITY AS v(id, document_id, recipient, n)),
                d AS (INSERT INTO deliveries (id, document_id, recipient, state, available_at)
                      SELECT v.id, v.document_id, v.recipient,
                             CASE WHEN a.delivery_mode = 'pull' THEN 'available' ELSE 'queued' END,
                             CASE WHEN a.delivery_mode = 'pull' THEN now() END
                        FROM v LEFT JOIN agencies a ON a.organ_id = v.recipient
                       ORDER BY v.n
                   RETURNING id, document_id, recipient, state, seq),
                o AS (INSERT INTO outbox (delivery_id, routing_key)
                      SELECT id, recipient FROM d WHERE state = 'queued' ORDER BY seq),
                e AS (INSERT INTO audit_events (event, organ_id, document_id, delivery_id, details)
                      SELECT 'delivered', recipient, document_id, id, '{"via": "inbox"}'::jsonb
                        FROM d WHERE state = 'available' ORDER BY seq)
           SELECT recipient, document_id, state FROM d""",
        [d.delivery_id for _, d in deliveries],
        [document_id for document_id, _ in deliveries],
        [d.recipient for _, d in deliveries],
    )
    available = [r for r in rows if r["state"] == "available"]
    if len(available) < len(rows):
        await notify(conn, repo.OUTBOX_CHANNEL)
    if available:
        for recipient in dict.fromkeys(r["recipient"] for r in available):
            await notify(conn, repo.INBOX_CHANNEL, recipient)
        await repo.audited(conn, [r["document_id"] for r in available])
        metrics.STAGE.labels("available").inc(len(available))


async def set_business_status(conn: asyncpg.Connection, delivery_id: uuid.UUID, code: str) -> None:
    """A recipient's latest status on its delivery (the status's own audit entry says who)."""
    await conn.execute(
        "UPDATE deliveries SET business_status = $2, business_status_at = now() WHERE id = $1",
        delivery_id,
        code,
    )


# ---------------------------------------------------------------- delivery transitions


async def make_available(conn: asyncpg.Connection, delivery_id: uuid.UUID) -> str | None:
    """queued → available: a pull delivery shows in its recipient's inbox, audited 'delivered'.
    Returns the recipient, or None when it was not queued (idempotent). One statement: the change,
    its audit entry commit together; the wake-ups (inbox waiters, the audit chainer, live pages)
    go after the commit."""
    row = await conn.fetchrow(
        """WITH d AS (UPDATE deliveries SET state = 'available', available_at = now()
                       WHERE id = $1 AND state = 'queued' RETURNING id, recipient, document_id),
                a AS (INSERT INTO audit_events (event, organ_id, document_id, delivery_id, details)
                      SELECT 'delivered', recipient, document_id, id, '{"via": "inbox"}'::jsonb FROM d)
           SELECT d.recipient, d.document_id FROM d""",
        delivery_id,
    )
    if row is None:
        return None
    recipient: str = row["recipient"]
    await notify(conn, repo.INBOX_CHANNEL, recipient)
    await repo.audited(conn, [row["document_id"]])
    metrics.STAGE.labels("available").inc()
    return recipient


_ACKNOWLEDGE = f"""
WITH req AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[]) AS r(id, recipient, via)
), upd AS (
    UPDATE deliveries d
       SET state = 'acknowledged', acknowledged_at = now(), last_error = NULL,
           business_status = COALESCE(d.business_status, CASE WHEN doc.kind = 'letter' THEN '01' END),
           business_status_at = CASE WHEN d.business_status IS NULL AND doc.kind = 'letter'
                                     THEN now() ELSE d.business_status_at END
      FROM req, documents doc
     WHERE d.id = req.id AND d.recipient = COALESCE(req.recipient, d.recipient)
       AND d.state <> 'acknowledged' AND doc.id = d.document_id
 RETURNING d.*, req.via, doc.kind AS document_kind
), audited AS (
    -- A push's delivery is its acknowledgement: 'delivered' first, then 'acknowledged'.
    INSERT INTO audit_events (event, organ_id, document_id, delivery_id, details)
    SELECT e.event, u.recipient, u.document_id, u.id, e.details
      FROM upd u CROSS JOIN LATERAL (VALUES
             (0, 'delivered', '{{"via": "webhook"}}'::jsonb),
             (1, 'acknowledged', jsonb_build_object('via', u.via))) AS e(ord, event, details)
     WHERE e.event = 'acknowledged' OR u.via = 'push'
     ORDER BY u.seq, e.ord
), arrived AS (
    -- Status 01 is sealed later, in batches (axis/core/statuses.py seal_pending).
    INSERT INTO arrivals (delivery_id, acknowledged_at)
    SELECT id, acknowledged_at FROM upd WHERE document_kind = 'letter'
    ON CONFLICT (delivery_id) DO NOTHING
)
SELECT true AS newly, {reads.ITEM_COLUMNS}
  FROM upd d JOIN documents doc ON doc.id = d.document_id JOIN agencies ra ON ra.organ_id = d.recipient
UNION ALL
SELECT false AS newly, {reads.ITEM_COLUMNS}
  FROM deliveries d JOIN documents doc ON doc.id = d.document_id JOIN agencies ra ON ra.organ_id = d.recipient
 WHERE d.id IN (SELECT id FROM req) AND NOT EXISTS (SELECT 1 FROM upd WHERE upd.id = d.id)
"""


async def acknowledge_many(
    conn: asyncpg.Connection, requests: Sequence[AckRequest]
) -> dict[uuid.UUID, tuple[DeliveryItem, bool]]:
    """→ acknowledged, once each, in one statement: audited 'acknowledged' (and 'delivered' first
    for a push, whose delivery is its acknowledgement); a letter's delivery gets business status
    01 unless the recipient already reported one, and a row in `arrivals` for the sealer to seal
    its status 01. The rest of the caller's transaction is planned on indexes (plan_on_keys).
    Returns, per delivery found for its request's recipient, the delivery as it
    now stands and whether this call acknowledged it; an id absent from the answer is not found."""
    if not requests:
        return {}
    await plan_on_keys(conn)  # a batch of ids in a table that grows fast
    rows = await conn.fetch(
        _ACKNOWLEDGE,
        [r.delivery_id for r in requests],
        [r.recipient for r in requests],
        [r.via for r in requests],
    )
    found: dict[uuid.UUID, tuple[DeliveryItem, bool]] = {}
    stale: list[uuid.UUID] = []
    for row in rows:
        item = DeliveryItem.from_row(row)
        found[item.delivery_id] = (item, row["newly"])
        if not row["newly"] and item.state != "acknowledged":
            # Acknowledged by a transaction that committed after this statement's snapshot.
            stale.append(item.delivery_id)
    if stale:
        for item in await reads.deliveries_by_id(conn, stale):
            found[item.delivery_id] = (item, False)
    newly = [item for item, made in found.values() if made]
    if newly:
        await repo.audited(conn, [item.document_id for item in newly])
        metrics.STAGE.labels("acknowledged").inc(len(newly))
    # Each request sees only a delivery of its own recipient.
    return {
        r.delivery_id: found[r.delivery_id]
        for r in requests
        if r.delivery_id in found
        and (r.recipient is None or found[r.delivery_id][0].recipient == r.recipient)
    }


async def acknowledge(
    conn: asyncpg.Connection, delivery_id: uuid.UUID, *, via: str
) -> DeliveryItem | None:
    """One delivery → acknowledged (acknowledge_many); the delivery as it now stands, or None when
    there was nothing to do (unknown, or acknowledged already)."""
    done = await acknowledge_many(conn, [AckRequest(delivery_id, None, via)])
    item, newly = done.get(delivery_id, (None, False))
    return item if newly else None


async def insert_arrivals(
    conn: asyncpg.Connection,
    sealed: Sequence[SealedArrival],
    *,
    root: str,
    batch_seal: dict[str, Any],
) -> int:
    """A sealed batch of status 01: the batch and its seal, one status document per arrival with
    its delivery to the letter's sender, outbox row and 'status' audit entry (on the letter),
    and each arrival marked sealed with its Merkle path. Set-based: a few statements a batch."""
    batch_id: int = await conn.fetchval(
        "INSERT INTO status_batches (root, size, sealed) VALUES ($1, $2, $3::jsonb) RETURNING id",
        root,
        len(sealed),
        _dumps(batch_seal),
    )
    await conn.execute(
        """INSERT INTO documents (id, kind, sender, edxml_document_id, business_type, status_code,
               content_sha256, size, subject, signature, responds_to, summary, received_at)
           SELECT id, 'status', sender, edxml_id, 0, '01', sha, size, subject, 'axis-batch',
                  letter, summary::jsonb, at
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[],
                         $7::uuid[], $8::text[], $9::timestamptz[])
                  AS s(id, sender, edxml_id, sha, size, subject, letter, summary, at)""",
        [s.status_id for s in sealed],
        [s.arrival.recipient for s in sealed],
        [s.arrival.edxml_document_id for s in sealed],
        [s.stored_sha256 for s in sealed],
        [s.size for s in sealed],
        [s.arrival.subject for s in sealed],
        [s.arrival.letter_id for s in sealed],
        [_dumps(s.summary) for s in sealed],
        # The status takes its acknowledgement's time: a trace lists it before anything posted after.
        [s.arrival.acknowledged_at for s in sealed],
    )
    await _insert_inline(conn, [(s.stored_sha256, s.inline) for s in sealed])
    await _insert_deliveries(
        conn,
        [(s.status_id, NewDelivery(s.delivery_id, s.arrival.sender)) for s in sealed],
    )
    await conn.execute(
        """INSERT INTO audit_events (event, organ_id, document_id, delivery_id, details)
           SELECT 'status', organ, letter, delivery, details::jsonb
             FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::text[])
                  WITH ORDINALITY AS s(organ, letter, delivery, details, n)
            ORDER BY n""",
        [s.arrival.recipient for s in sealed],
        [s.arrival.letter_id for s in sealed],
        [s.arrival.delivery_id for s in sealed],
        [
            _dumps(
                {
                    "status_code": "01",
                    "status_document_id": str(s.status_id),
                    "recipient": s.arrival.recipient,
                    "signature": "axis-batch",
                    "by": "axis",
                    "sha256": s.stored_sha256,
                    "batch_root": root,
                }
            )
            for s in sealed
        ],
    )
    await conn.execute(
        """UPDATE arrivals a SET status_id = s.status, batch_id = $6, leaf = s.leaf,
                  leaf_index = s.leaf_index, path = s.path::jsonb
             FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::integer[], $5::text[])
                  AS s(delivery, status, leaf, leaf_index, path)
            WHERE a.delivery_id = s.delivery""",
        [s.arrival.delivery_id for s in sealed],
        [s.status_id for s in sealed],
        [s.leaf for s in sealed],
        [s.leaf_index for s in sealed],
        [_dumps(s.path) for s in sealed],
        batch_id,
    )
    await repo.audited(conn, [s.arrival.letter_id for s in sealed])
    metrics.STAGE.labels("status_01").inc(len(sealed))
    return batch_id


async def schedule_retry(
    conn: asyncpg.Connection,
    item_id: uuid.UUID,
    document_id: uuid.UUID,
    recipient: str,
    *,
    attempts: int,
    error: str,
    next_attempt_at: datetime,
) -> None:
    """A push attempt failed and another will follow: the attempt, its error, when the next is due,
    and a 'retry_scheduled' audit entry."""
    await conn.execute(
        """UPDATE deliveries SET attempts = $2, last_error = $3, next_attempt_at = $4,
                  push_failing_since = COALESCE(push_failing_since, now())
            WHERE id = $1""",
        item_id,
        attempts,
        error,
        next_attempt_at,
    )
    await repo.audit(
        conn,
        "retry_scheduled",
        organ_id=recipient,
        document_id=document_id,
        delivery_id=item_id,
        details={"attempts": attempts, "next_attempt_at": next_attempt_at.isoformat()},
    )


async def dead_letter(
    conn: asyncpg.Connection,
    item_id: uuid.UUID,
    document_id: uuid.UUID,
    recipient: str,
    *,
    attempts: int,
    error: str,
) -> None:
    """The last push attempt failed: the delivery is given up on (failed), audited 'delivery_failed'."""
    await conn.execute(
        """UPDATE deliveries SET state = 'failed', attempts = $2, last_error = $3, failed_at = now(),
                  next_attempt_at = NULL, push_failing_since = COALESCE(push_failing_since, now())
            WHERE id = $1""",
        item_id,
        attempts,
        error,
    )
    await repo.audit(
        conn,
        "delivery_failed",
        organ_id=recipient,
        document_id=document_id,
        delivery_id=item_id,
        details={"attempts": attempts, "error": error},
    )


async def refused_by_recipient(
    conn: asyncpg.Connection, delivery_id: uuid.UUID, recipient: str, description: str | None
) -> bool:
    """The recipient reports it could not take the package (VDXP updateStatus fail): the delivery
    leaves its list as failed with the reason, which its sender sees. False if not waiting."""
    reason = "recipient reported fail via VDXP" + (f": {description}" if description else "")
    document_id = await conn.fetchval(
        """UPDATE deliveries SET state = 'failed', failed_at = now(), last_error = $3
            WHERE id = $1 AND recipient = $2 AND state IN ('queued', 'available') RETURNING document_id""",
        delivery_id,
        recipient,
        reason,
    )
    if document_id is None:
        return False
    await repo.audit(
        conn,
        "delivery_failed",
        organ_id=recipient,
        document_id=document_id,
        delivery_id=delivery_id,
        details={"via": "vdxp", "reported_by": "recipient", "description": description},
    )
    return True


#: The deliveries the overdue rule may newly catch, each branch read from its partial index
#: (migration 0011): unacknowledged and not yet flagged; dated, open and not yet flagged. The
#: rule itself (rules.overdue_condition) is applied to these few afterwards.
_OVERDUE_CANDIDATES = """
SELECT d.id FROM deliveries d
 WHERE d.overdue_logged_at IS NULL AND d.state IN ('queued', 'available')
   AND d.created_at < now() - make_interval(secs => $1)
UNION
SELECT d.id FROM deliveries d
 WHERE d.overdue_logged_at IS NULL AND d.due_date IS NOT NULL AND d.state <> 'failed'
   AND d.business_status IS DISTINCT FROM '06' AND d.business_status IS DISTINCT FROM '02'
   AND d.due_date < (now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date"""

#: Every delivery overdue now has been flagged (mark_overdue runs first) and only letters'
#: deliveries are flagged, so the count reads only flagged deliveries that may still be overdue
#: (their partial index) and no document.
_OVERDUE_NOW = f"""
SELECT count(*) FROM deliveries d
 WHERE d.overdue_logged_at IS NOT NULL AND d.state <> 'failed'
   AND d.business_status IS DISTINCT FROM '06' AND d.business_status IS DISTINCT FROM '02'
   AND (d.state IN ('queued', 'available') OR d.due_date IS NOT NULL)
   AND {rules.delivery_overdue_condition("$1")}"""


async def mark_overdue(conn: asyncpg.Connection, threshold: float) -> list[asyncpg.Record]:
    """Deliveries newly overdue (rules.overdue_condition) are marked once, each with an 'overdue'
    audit entry in the same statement; returns them (id, recipient, document_id, sender, due_date).

    The cost follows the deliveries in flight and those falling due, not the ledger's history."""
    # The interpolated text is our own constant SQL; the threshold is bound as $1.
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""WITH m AS (UPDATE deliveries d SET overdue_logged_at = now()
                         FROM documents doc
                        WHERE d.id = ANY(ARRAY({_OVERDUE_CANDIDATES}))
                          AND doc.id = d.document_id AND d.overdue_logged_at IS NULL
                          AND {rules.overdue_condition("$1")}
                    RETURNING d.id, d.recipient, doc.id AS document_id, doc.sender, doc.due_date),
                 a AS (INSERT INTO audit_events (event, organ_id, document_id, delivery_id, details)
                       SELECT 'overdue', recipient, document_id, id,
                              jsonb_build_object('due_date', due_date) FROM m)
            SELECT m.* FROM m""",
        threshold,
    )
    if rows:
        await repo.audited(conn, [r["document_id"] for r in rows])
    return rows


async def count_overdue(conn: asyncpg.Connection, threshold: float) -> int:
    """How many deliveries are overdue now; call after mark_overdue in the same transaction."""
    count: int = await conn.fetchval(_OVERDUE_NOW, threshold)
    return count
