"""A ledger's past written in bulk: letters, their deliveries, the last status each recipient
posted and the audit entries, set-based inside PostgreSQL (generate_series), for `axis bench axis
--prefill` to measure the hub with a year of history stored. The packages' bytes are not written:
an old letter's blob is absent, so fetching one answers as a lost blob would."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class HistoryShape:
    """How the history looks; the shares are of deliveries, drawn at random per row."""

    #: Agencies letters go between (senders and recipients drawn uniformly).
    organs: Sequence[str]
    #: Agencies whose inbox is read to the end: their deliveries are all acknowledged (the
    #: benchmark's recipients, whose load must not meet unread old letters).
    read_to_end: Sequence[str]
    #: Seconds of history before the last day, letters spread evenly over them.
    span_seconds: float = 365 * 86400.0
    #: The hub's AXIS_ACK_OVERDUE_SECONDS: deliveries that waited longer were flagged overdue.
    ack_overdue_seconds: float = 86400.0
    #: A tag in every DocumentId, so two fills of one database never collide.
    tag: str = "LS"


#: Letters of one transaction.
CHUNK = 50_000

_LETTERS = """
CREATE TEMP TABLE history_letters ON COMMIT DROP AS
SELECT i, gen_random_uuid() AS id, floor(random() * n)::int AS s,
       1 + floor(random() * 3)::int AS recipients,
       1 + floor(random() * greatest(1, (n - 1) / 3))::int AS step,
       now() - make_interval(secs => 86400 + ($3 - i)::float8 * $5 / $3) AS at,
       random() < 0.4 AS dated, 5 + floor(random() * 20)::int AS due_in
  FROM generate_series($1::bigint, $2::bigint - 1) AS i, (SELECT cardinality($4::text[]) AS n) c
"""

_DOCUMENTS = """
INSERT INTO documents (id, kind, sender, edxml_document_id, business_type, content_sha256, size,
                       code_number, code_notation, subject, type_name, promulgation_date, due_date,
                       signature, summary, receipt, received_at, received_sha256)
SELECT l.id, 'letter', o.sender,
       o.sender || ',' || to_char(o.day, 'YYYY/MM/DD') || ',' || l.i || '/' || $2, 0,
       encode(sha256(convert_to(l.id::text, 'UTF8')), 'hex'), 20000 + l.i % 8000,
       (l.i % 9999 + 1)::text, $2 || '-' || (l.i % 97),
       (ARRAY['Về việc triển khai kế hoạch công tác năm',
              'Về việc báo cáo tình hình thực hiện nhiệm vụ',
              'Về việc tổ chức hội nghị sơ kết',
              'Về việc góp ý dự thảo văn bản quy phạm pháp luật',
              'Về việc cử cán bộ tham dự tập huấn'])[1 + l.i % 5],
       'Công văn', o.day, CASE WHEN l.dated THEN o.day + l.due_in END, 'xmldsig',
       jsonb_build_object('document_id', o.sender || ',' || l.i, 'business_type', 0,
                          'subject', 'lịch sử', 'due_date', CASE WHEN l.dated THEN o.day + l.due_in END),
       jsonb_build_object('document_id', l.id), l.at, encode(sha256(convert_to(l.id::text, 'UTF8')), 'hex')
  FROM history_letters l,
       LATERAL (SELECT ($1::text[])[l.s + 1] AS sender,
                       (l.at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date AS day) o
"""

# Recipients: distinct and never the sender (steps of less than a third of the agencies).
_DELIVERIES = """
CREATE TEMP TABLE history_deliveries ON COMMIT DROP AS
SELECT gen_random_uuid() AS id, l.id AS document_id, l.at, r.recipient,
       ($1::text[])[l.s + 1] AS sender, d.due_date,
       CASE WHEN r.recipient = ANY($2::text[]) OR x < 0.96 THEN 'acknowledged'
            WHEN x < 0.98 THEN 'available' ELSE 'failed' END AS state,
       CASE WHEN y < 0.35 THEN '01' WHEN y < 0.55 THEN '03' WHEN y < 0.93 THEN '06' ELSE '02' END
           AS status, random() * 86400 * 3 AS took
  FROM history_letters l
  JOIN documents d ON d.id = l.id,
       generate_series(1, 3) AS k,
       LATERAL (SELECT ($1::text[])[1 + (l.s + k * l.step) % cardinality($1::text[])] AS recipient,
                       random() AS x, random() AS y) r
 WHERE k <= l.recipients
"""

_INSERT_DELIVERIES = """
INSERT INTO deliveries (id, document_id, recipient, state, attempts, created_at, available_at,
                        acknowledged_at, failed_at, last_error, push_failing_since,
                        business_status, business_status_at, overdue_logged_at, due_date)
SELECT h.id, h.document_id, h.recipient, h.state, CASE WHEN h.state = 'failed' THEN 12 ELSE 0 END,
       h.at, h.at + interval '1 second',
       CASE WHEN h.state = 'acknowledged' THEN h.at + make_interval(secs => h.took) END,
       CASE WHEN h.state = 'failed' THEN h.at + interval '2 days' END,
       CASE WHEN h.state = 'failed' THEN 'the webhook answered 503' END,
       CASE WHEN h.state = 'failed' THEN h.at END,
       CASE WHEN h.state = 'acknowledged' THEN h.status END,
       CASE WHEN h.state = 'acknowledged' THEN h.at + make_interval(secs => h.took * 2) END,
       -- what the overdue watch flagged while this history was made
       CASE WHEN h.state = 'available' THEN h.at + make_interval(secs => $1)
            WHEN h.state = 'acknowledged' AND h.took > $1 THEN h.at + make_interval(secs => $1)
            WHEN h.state = 'acknowledged' AND h.due_date IS NOT NULL AND h.status IN ('01', '03')
                 AND h.due_date < (now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date
            THEN (h.due_date + 1)::timestamptz END,
       h.due_date
  FROM history_deliveries h
 ORDER BY h.at
"""

# The last status each recipient posted beyond 01 (03, 06 or 02), a document delivered to the
# letter's sender, who acknowledged it.
_STATUSES = """
WITH s AS (
    SELECT gen_random_uuid() AS id, h.document_id, h.recipient, h.sender, h.status,
           h.at + make_interval(secs => h.took * 2) AS at
      FROM history_deliveries h
     WHERE h.state = 'acknowledged' AND h.status <> '01'
), docs AS (
    INSERT INTO documents (id, kind, sender, edxml_document_id, business_type, status_code,
                           content_sha256, size, signature, responds_to, summary, receipt,
                           received_at, received_sha256)
    SELECT s.id, 'status', s.recipient, s.document_id::text, 0, s.status,
           encode(sha256(convert_to(s.id::text, 'UTF8')), 'hex'), 3000, 'xmldsig', s.document_id,
           jsonb_build_object('status_code', s.status), jsonb_build_object('document_id', s.id),
           s.at, encode(sha256(convert_to(s.id::text, 'UTF8')), 'hex')
      FROM s
    RETURNING id
)
INSERT INTO deliveries (id, document_id, recipient, state, created_at, available_at,
                        acknowledged_at, business_status)
SELECT gen_random_uuid(), s.id, s.sender, 'acknowledged', s.at, s.at + interval '1 second',
       s.at + interval '1 hour', NULL
  FROM s JOIN docs ON docs.id = s.id
"""

# One entry per document accepted (the hub writes more per letter; the chain's length is what
# the chainer and the proofs read, by index).
_AUDIT = """
INSERT INTO audit_events (at, event, organ_id, document_id, details)
SELECT d.received_at, 'accepted', d.sender, d.id,
       jsonb_build_object('kind', d.kind, 'history', true)
  FROM documents d
 WHERE d.id IN (SELECT id FROM history_letters)
    OR d.responds_to IN (SELECT id FROM history_letters)
 ORDER BY d.received_at
"""


async def write_history(
    conn: asyncpg.Connection, shape: HistoryShape, first: int, count: int, total: int
) -> dict[str, int]:
    """Letters number `first` to `first + count - 1` of `total` (the oldest first), in one
    transaction; the rows written per table. The audit entries are left unchained: chain them
    (axis.core.audit.chain_pending) before the hub serves."""
    organs = list(shape.organs)
    if len(organs) < 4:
        raise ValueError("a history needs at least four agencies")
    written: dict[str, int] = {}
    async with conn.transaction():
        await conn.execute(_LETTERS, first, first + count, total, organs, shape.span_seconds)
        written["letters"] = _rows(await conn.execute(_DOCUMENTS, organs, shape.tag))
        await conn.execute(_DELIVERIES, organs, list(shape.read_to_end))
        written["deliveries"] = _rows(
            await conn.execute(_INSERT_DELIVERIES, shape.ack_overdue_seconds)
        )
        written["statuses"] = _rows(await conn.execute(_STATUSES))
        written["audit_events"] = _rows(await conn.execute(_AUDIT))
    return written


def _rows(tag: str) -> int:
    """The row count of a command tag ('INSERT 0 123')."""
    return int(tag.rsplit(" ", 1)[-1])
