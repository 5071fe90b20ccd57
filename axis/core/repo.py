"""The axis's SQL: every query of the hub lives here, parameters always bound."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from storage.db import notify

AGENCY_CHANNEL = "axis_agencies"
INBOX_CHANNEL = "axis_inbox"
OUTBOX_CHANNEL = "axis_outbox"
AUDIT_CHANNEL = "axis_audit"
#: NOTIFY with a document id whenever something about it is audited (`audited`, after commit).
EVENTS_CHANNEL = "axis_events"
#: NOTIFY with the SHA-256 of a clerk's session token when that session ends (logout, user
#: disabled, new password): every hub ends the live streams opened with it.
SESSIONS_CHANNEL = "axis_sessions"

# ---------------------------------------------------------------- agencies


async def agency_exists(conn: asyncpg.Connection, organ_id: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM agencies WHERE organ_id = $1", organ_id))


async def insert_agency(
    conn: asyncpg.Connection,
    *,
    organ_id: str,
    name: str,
    delivery_mode: str,
    webhook_url: str | None,
    token_hash: str,
    webhook_allow_private: bool = False,
) -> None:
    await conn.execute(
        """INSERT INTO agencies (organ_id, name, delivery_mode, webhook_url, token_hash, webhook_allow_private)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        organ_id,
        name,
        delivery_mode,
        webhook_url,
        token_hash,
        webhook_allow_private,
    )


async def insert_certificate(
    conn: asyncpg.Connection,
    *,
    organ_id: str,
    fingerprint: str,
    subject: str,
    not_after: datetime,
    pem: str,
) -> None:
    await conn.execute(
        """INSERT INTO agency_certificates (organ_id, fingerprint, subject, not_after, pem)
           VALUES ($1, $2, $3, $4, $5)""",
        organ_id,
        fingerprint,
        subject,
        not_after,
        pem,
    )


async def delete_certificate(conn: asyncpg.Connection, organ_id: str, fingerprint: str) -> bool:
    result = await conn.execute(
        "DELETE FROM agency_certificates WHERE organ_id = $1 AND fingerprint = $2",
        organ_id,
        fingerprint,
    )
    return bool(result != "DELETE 0")


_AGENCY_COLUMNS = (
    "organ_id, name, delivery_mode, webhook_url, webhook_allow_private, signature_policy, active,"
    " token_hash, created_at"
)


async def get_agency(conn: asyncpg.Connection, organ_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_AGENCY_COLUMNS} FROM agencies WHERE organ_id = $1", organ_id
    )


async def agency_by_token_hash(conn: asyncpg.Connection, token_hash: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_AGENCY_COLUMNS} FROM agencies WHERE token_hash = $1", token_hash
    )


async def agency_certificates(conn: asyncpg.Connection, organ_id: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT fingerprint, subject, not_after FROM agency_certificates WHERE organ_id = $1 ORDER BY added_at",
        organ_id,
    )
    return rows


async def certificate_owners(conn: asyncpg.Connection, fingerprint: str) -> list[str]:
    """The agencies that registered the certificate with this SHA-256 fingerprint."""
    rows = await conn.fetch(
        "SELECT organ_id FROM agency_certificates WHERE fingerprint = $1 ORDER BY organ_id",
        fingerprint,
    )
    return [r["organ_id"] for r in rows]


async def list_agencies(conn: asyncpg.Connection, *, active_only: bool) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {_AGENCY_COLUMNS} FROM agencies WHERE active OR NOT $1 ORDER BY organ_id",
        active_only,
    )
    return rows


async def agencies_by_ids(
    conn: asyncpg.Connection, organ_ids: Sequence[str]
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {_AGENCY_COLUMNS} FROM agencies WHERE organ_id = ANY($1::text[])", list(organ_ids)
    )
    return rows


async def set_agency_active(conn: asyncpg.Connection, organ_id: str, active: bool) -> bool:
    """The operator's enable/disable: it overrides a hub's deleteAgency, so a unit the operator
    disabled is no longer one its hub may bring back with registerAgency."""
    result = await conn.execute(
        """UPDATE agencies SET active = $2, vdxp_deleted_by_hub = false, updated_at = now()
            WHERE organ_id = $1""",
        organ_id,
        active,
    )
    return bool(result != "UPDATE 0")


async def set_agency_token(conn: asyncpg.Connection, organ_id: str, token_hash: str) -> bool:
    result = await conn.execute(
        "UPDATE agencies SET token_hash = $2, updated_at = now() WHERE organ_id = $1",
        organ_id,
        token_hash,
    )
    return bool(result != "UPDATE 0")


async def set_agency_webhook(
    conn: asyncpg.Connection, organ_id: str, webhook_url: str | None, allow_private: bool = False
) -> bool:
    result = await conn.execute(
        """UPDATE agencies SET webhook_url = $2, delivery_mode = CASE WHEN $2::text IS NULL THEN 'pull' ELSE 'push' END,
                  webhook_allow_private = $3, updated_at = now() WHERE organ_id = $1""",
        organ_id,
        webhook_url,
        allow_private and webhook_url is not None,
    )
    return bool(result != "UPDATE 0")


async def notify_agencies_changed(conn: asyncpg.Connection, organ_id: str) -> None:
    """Every hub drops what it keeps about the agency (cached token, certificates, clerks' live
    streams). Called in the changing transaction, so the notice goes out when the change commits
    (and never for a change rolled back); agency changes are rare, never on a hot write path."""
    await conn.execute("SELECT pg_notify($1, $2)", AGENCY_CHANNEL, organ_id)


async def notify_sessions_ended(conn: asyncpg.Connection, token_hashes: Sequence[str]) -> None:
    """Every hub ends the live streams of these sessions (delivered when the caller commits)."""
    if token_hashes:
        await conn.execute(
            "SELECT pg_notify($1, h) FROM unnest($2::text[]) AS h",
            SESSIONS_CHANNEL,
            list(token_hashes),
        )


# ---------------------------------------------------------------- audit


def jsonb(value: object) -> str:
    """The text of a jsonb parameter, written by orjson: several times faster than the json
    module on the summaries, receipts and audit details of every letter, and jsonb keeps no
    formatting of its own, so the stored value is the same."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


async def audit(
    conn: asyncpg.Connection,
    event: str,
    *,
    organ_id: str | None = None,
    document_id: uuid.UUID | None = None,
    delivery_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        """INSERT INTO audit_events (event, organ_id, document_id, delivery_id, details)
           VALUES ($1, $2, $3, $4, $5::jsonb)""",
        event,
        organ_id,
        document_id,
        delivery_id,
        jsonb(details or {}),
    )
    await audited(conn, [document_id] if document_id is not None else [])


async def audit_many(
    conn: asyncpg.Connection,
    entries: Sequence[tuple[str, str | None, uuid.UUID | None, uuid.UUID | None, dict[str, Any]]],
) -> None:
    """Audit entries (event, organ, document, delivery, details) in one statement, in order: a
    batch's, written by the transaction that commits the batch."""
    await conn.execute(
        """INSERT INTO audit_events (event, organ_id, document_id, delivery_id, details)
           SELECT e, o, doc, dl, d::jsonb
             FROM unnest($1::text[], $2::text[], $3::uuid[], $4::uuid[], $5::text[])
                  WITH ORDINALITY AS v(e, o, doc, dl, d, n)
            ORDER BY n""",
        [e[0] for e in entries],
        [e[1] for e in entries],
        [e[2] for e in entries],
        [e[3] for e in entries],
        [jsonb(e[4]) for e in entries],
    )
    await audited(conn, [e[2] for e in entries if e[2] is not None])


def audit_insert(rows: str) -> str:
    """An INSERT of audit entries from `rows`, a query giving (event, organ_id, document_id,
    delivery_id, details jsonb) in the order they happened: the part of a data-modifying WITH
    that audits what the rest of the statement writes, for a writer whose rows and their
    entries go in one statement (one round trip, no transaction of its own). The caller then
    calls `audited`."""
    return f"INSERT INTO audit_events (event, organ_id, document_id, delivery_id, details) {rows}"


async def audited(conn: asyncpg.Connection, document_ids: Sequence[uuid.UUID]) -> None:
    """After audit rows are written: the audit chainer wakes, and so do the live pages of the
    documents they name, once the caller's transaction is over (storage.db.notify: no NOTIFY
    inside the write transaction, no round trip). Every writer of audit_events calls this."""
    await notify(conn, AUDIT_CHANNEL)
    for document_id in dict.fromkeys(document_ids):
        await notify(conn, EVENTS_CHANNEL, str(document_id))


async def audit_events(conn: asyncpg.Connection, document_id: uuid.UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT id, at, event, organ_id, delivery_id, details FROM audit_events WHERE document_id = $1 ORDER BY id",
        document_id,
    )
    return rows
