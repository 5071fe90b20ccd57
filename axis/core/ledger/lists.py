"""The ledger's searchable lists of the letters an agency received and sent (the clerks' pages show
them); values always bound."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import asyncpg

LIMIT = 200


@dataclass(frozen=True)
class Search:
    """What a clerk typed in the search form; empty fields do not filter."""

    number: str | None = None  # Số: CodeNumber, exact
    notation: str | None = None  # Ký hiệu: CodeNotation, contains
    subject: str | None = None  # Trích yếu: Subject, contains
    party: str | None = (
        None  # the sender (received) or a recipient (sent): organ id or name, contains
    )
    date_from: dt.date | None = None  # PromulgationDate from…
    date_to: dt.date | None = None  # …to, both inclusive

    @property
    def empty(self) -> bool:
        return not any(
            (self.number, self.notation, self.subject, self.party, self.date_from, self.date_to)
        )


def _contains(value: str | None) -> str | None:
    if not value:
        return None
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# Newest first by the delivery's sequence (made in the letter's own transaction, so in the order
# letters were received), read backwards from the recipient's index: a page costs its rows, not
# the agency's whole history.
_RECEIVED = """
SELECT doc.id, doc.kind, doc.code_number, doc.code_notation, doc.subject, doc.type_name,
       doc.promulgation_date, doc.due_date, doc.signature, doc.received_at, doc.business_type,
       doc.sender, a.name AS sender_name, d.state, d.business_status, d.created_at,
       d.acknowledged_at,
       EXISTS (SELECT 1 FROM documents s WHERE s.kind = 'status' AND s.responds_to = doc.id
                  AND s.status_code = '13') AS recall_asked
  FROM deliveries d
  JOIN documents doc ON doc.id = d.document_id
  JOIN agencies a ON a.organ_id = doc.sender
 WHERE d.recipient = $1 AND doc.kind = 'letter'
   AND ($5::text IS NULL OR doc.sender ILIKE $5 OR a.name ILIKE $5)
   AND ($2::text IS NULL OR doc.code_number = $2)
   AND ($3::text IS NULL OR doc.code_notation ILIKE $3)
   AND ($4::text IS NULL OR doc.subject ILIKE $4)
   AND ($6::date IS NULL OR doc.promulgation_date >= $6)
   AND ($7::date IS NULL OR doc.promulgation_date <= $7)
 ORDER BY d.seq DESC LIMIT $8"""

_SENT = """
SELECT doc.id, doc.kind, doc.code_number, doc.code_notation, doc.subject, doc.type_name,
       doc.promulgation_date, doc.due_date, doc.signature, doc.received_at, doc.business_type,
       doc.sender,
       EXISTS (SELECT 1 FROM documents s WHERE s.kind = 'status' AND s.responds_to = doc.id
                  AND s.status_code = '13') AS recall_asked
  FROM documents doc
 WHERE doc.sender = $1 AND doc.kind = 'letter'
   AND ($5::text IS NULL OR EXISTS (
         SELECT 1 FROM deliveries d JOIN agencies a ON a.organ_id = d.recipient
          WHERE d.document_id = doc.id AND (d.recipient ILIKE $5 OR a.name ILIKE $5)))
   AND ($2::text IS NULL OR doc.code_number = $2)
   AND ($3::text IS NULL OR doc.code_notation ILIKE $3)
   AND ($4::text IS NULL OR doc.subject ILIKE $4)
   AND ($6::date IS NULL OR doc.promulgation_date >= $6)
   AND ($7::date IS NULL OR doc.promulgation_date <= $7)
 ORDER BY doc.received_at DESC, doc.id DESC LIMIT $8"""


def _args(organ_id: str, search: Search, limit: int) -> list[object]:
    return [
        organ_id,
        (search.number or "").strip() or None,
        _contains(search.notation),
        _contains(search.subject),
        _contains(search.party),
        search.date_from,
        search.date_to,
        limit,
    ]


async def received(
    conn: asyncpg.Connection, organ_id: str, search: Search, limit: int = LIMIT
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(_RECEIVED, *_args(organ_id, search, limit))
    return rows


async def sent(
    conn: asyncpg.Connection, organ_id: str, search: Search, limit: int = LIMIT
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(_SENT, *_args(organ_id, search, limit))
    return rows


async def recipients_of(
    conn: asyncpg.Connection, document_ids: list[uuid.UUID]
) -> list[asyncpg.Record]:
    """Each delivery of these letters, with what the overdue rule reads (axis.core.ledger.rules.is_overdue)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT d.document_id, d.recipient, a.name AS recipient_name, d.state, d.business_status,
                  d.created_at, doc.kind, doc.due_date
             FROM deliveries d
             JOIN documents doc ON doc.id = d.document_id
             JOIN agencies a ON a.organ_id = d.recipient
            WHERE d.document_id = ANY($1::uuid[])
            ORDER BY d.seq""",
        document_ids,
    )
    return rows


async def attachments(conn: asyncpg.Connection, document_id: uuid.UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT position, content_id, name, content_type, description, size
             FROM document_attachments WHERE document_id = $1 ORDER BY position""",
        document_id,
    )
    return rows
