"""The tamper-evident audit log in PostgreSQL: chaining committed audit rows (one batch per
transaction, sealing checkpoints as they fall due), `verify`, which recomputes the whole chain and
names the first row that was edited, inserted, deleted or moved, and building a letter's proof
from its rows. The hashes and the proof's format are in axis.core.audit_proof, which checks a
proof offline; the background chainer is axis.workers.chainer.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from cryptography import x509

import signing
from axis.config import Config
from axis.core import repo
from axis.core.audit_proof import (
    CHECKPOINT_TYPE,
    GENESIS,
    content_hash,
    entry_content,
    link_hash,
    proof_document,
    proof_entry,
    seal_problem,
)
from axis.core.errors import AxisError, NotFound
from storage.db import Database, plan_on_keys

log = logging.getLogger("axis.audit")

#: repo.audit notifies this channel; the chainers listen to it.
CHANNEL = repo.AUDIT_CHANNEL
BATCH = 500
_PAGE = 2000
# Transaction-level advisory lock: only one chainer in the cluster extends the chain at a time,
# and the lock goes with the commit, so a pooled connection never keeps it.
_LOCK_KEY = 0x4158_4953_4155_44  # "AXISAUD"


# The links of one batch, written by id. The chainer plans its transaction on indexes
# (storage.db.plan_on_keys): the table grows fast and its statistics lag behind.
_CHAIN = """
    UPDATE audit_events a
       SET chain_seq = v.seq, prev_hash = v.prev, content_hash = v.digest, hash = v.hash
      FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[])
           AS v(id, seq, prev, digest, hash)
     WHERE a.id = v.id"""


class AuditNotCovered(AxisError):
    code = "audit_not_covered"
    status = 503


# ---------------------------------------------------------------- the chainer


@dataclass(frozen=True)
class CheckpointPolicy:
    """A checkpoint is sealed once `entries` entries are chained past the last one, or
    `seconds` after the last one when anything new was chained."""

    entries: int = 1000
    seconds: float = 60.0

    @classmethod
    def from_config(cls, config: Config) -> CheckpointPolicy:
        return cls(config.audit_checkpoint_entries, config.audit_checkpoint_seconds)


async def chain_pending(
    conn: asyncpg.Connection,
    seal: signing.Seal,
    policy: CheckpointPolicy,
    *,
    wait: bool = False,
    force_checkpoint: bool = False,
) -> int | None:
    """Chain one batch of unchained rows (oldest id first) in one transaction, sealing the
    checkpoints that fall due. None when another process holds the chain (unless `wait`)."""
    async with conn.transaction():
        if wait:
            await conn.execute("SET LOCAL lock_timeout = '10s'")
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        elif not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _LOCK_KEY):
            return None
        await plan_on_keys(conn)
        head = await conn.fetchrow(
            "SELECT chain_seq, hash FROM audit_events WHERE chain_seq IS NOT NULL"
            " ORDER BY chain_seq DESC LIMIT 1"
        )
        seq, prev = (head["chain_seq"], head["hash"]) if head else (0, GENESIS)
        last = await conn.fetchrow(
            "SELECT chain_seq, at FROM audit_checkpoints ORDER BY chain_seq DESC, id DESC LIMIT 1"
        )
        cp_seq: int = last["chain_seq"] if last else 0
        cp_at: datetime | None = last["at"] if last else None
        rows = await conn.fetch(
            "SELECT id, at, event, organ_id, document_id, delivery_id, details FROM audit_events WHERE chain_seq IS NULL ORDER BY id LIMIT $1",
            BATCH,
        )
        ids: list[int] = []
        seqs: list[int] = []
        prevs: list[str] = []
        digests: list[str] = []
        hashes: list[str] = []
        due: list[tuple[int, str]] = []
        for row in rows:
            digest = content_hash(entry_content(row))
            seq += 1
            ids.append(row["id"])
            seqs.append(seq)
            prevs.append(prev)
            digests.append(digest)
            prev = link_hash(prev, digest)
            hashes.append(prev)
            if seq - cp_seq >= policy.entries:
                due.append((seq, prev))
                cp_seq, cp_at = seq, datetime.now(UTC)
        if rows:
            await conn.execute(
                _CHAIN,
                ids,
                seqs,
                prevs,
                digests,
                hashes,
            )
        now = datetime.now(UTC)
        if seq > cp_seq and (
            force_checkpoint or cp_at is None or (now - cp_at).total_seconds() >= policy.seconds
        ):
            due.append((seq, prev))
        for at_seq, at_hash in due:
            await _seal_checkpoint(conn, seal, at_seq, at_hash)
    if rows:
        log.debug("event=audit_chained entries=%d head=%d", len(rows), seq)
    return len(rows)


async def _seal_checkpoint(
    conn: asyncpg.Connection, seal: signing.Seal, seq: int, head_hash: str
) -> None:
    at = datetime.now(UTC)
    payload = {"type": CHECKPOINT_TYPE, "chain_seq": seq, "hash": head_hash, "at": at.isoformat()}
    sealed = seal.sign_json(payload)
    await conn.execute(
        "INSERT INTO audit_checkpoints (chain_seq, hash, at, sealed) VALUES ($1, $2, $3, $4::jsonb)",
        seq,
        head_hash,
        at,
        json.dumps(sealed, ensure_ascii=False),
    )
    log.info("event=audit_checkpoint chain_seq=%d hash=%s", seq, head_hash)


async def catch_up(conn: asyncpg.Connection, seal: signing.Seal, policy: CheckpointPolicy) -> None:
    """Chain everything committed so far and seal a checkpoint over it, waiting for the lock."""
    while True:
        try:
            done = await chain_pending(conn, seal, policy, wait=True, force_checkpoint=True)
        except asyncpg.LockNotAvailableError:
            raise AuditNotCovered(
                "the audit chain is busy; try again in a few seconds", where="audit"
            ) from None
        if not done or done < BATCH:
            return


# ---------------------------------------------------------------- verify


@dataclass
class Finding:
    """The first thing wrong with the chain."""

    kind: str  # edited | inserted | deleted | reordered | relinked | rewritten | checkpoint
    message: str
    entry_id: int | None = None
    chain_seq: int | None = None
    checkpoint_id: int | None = None


@dataclass
class VerifyReport:
    entries: int = 0
    pending: int = 0
    checkpoints: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    last_checkpoint_seq: int | None = None
    seal_pinned: bool = False
    problem: Finding | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data

    def summary(self) -> str:
        if self.problem is not None:
            return self.problem.message
        covered = (
            f"the last sealed checkpoint covers chain {self.last_checkpoint_seq}"
            if self.last_checkpoint_seq
            else "no checkpoint is sealed yet"
        )
        pinned = "" if self.seal_pinned else " (seals checked against their own certificate only)"
        return (
            f"the audit chain is intact: {self.entries} entries, head {self.head_seq} "
            f"({self.head_hash[:16]}…), {self.checkpoints} checkpoints{pinned}; {covered}; "
            f"{self.pending} entries not yet chained"
        )


def _describe(row: asyncpg.Record) -> str:
    parts = [f"chain {row['chain_seq']}", f"event {row['event']}"]
    if row["document_id"] is not None:
        parts.append(f"document {row['document_id']}")
    return f"entry {row['id']} ({', '.join(parts)})"


async def _pages(
    conn: asyncpg.Connection, sql: str, *, key: str = "chain_seq"
) -> AsyncIterator[asyncpg.Record]:
    """Rows of `sql` (which takes the last key seen, or NULL, and a limit) by keyset pages."""
    after: int | None = None
    while True:
        rows = await conn.fetch(sql, after, _PAGE)
        for row in rows:
            yield row
        if len(rows) < _PAGE:
            return
        after = rows[-1][key]


async def verify(
    conn: asyncpg.Connection, seal_cert: x509.Certificate | signing.TrustStore | None = None
) -> VerifyReport:
    """Recompute the whole chain from entry 1 and check every checkpoint; stops at the first fault.

    Without `seal_cert` a checkpoint's seal is checked against the certificate it carries, which
    proves the content unaltered but not who sealed it."""
    report = VerifyReport(seal_pinned=seal_cert is not None)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        report.pending = await conn.fetchval(
            "SELECT count(*) FROM audit_events WHERE chain_seq IS NULL"
        )
        report.problem = await _walk(conn, report, seal_cert)
    return report


async def _checkpoints_in_order(conn: asyncpg.Connection) -> AsyncIterator[asyncpg.Record]:
    """Every checkpoint by the chain number it covers, read in pages (they are many after years)."""
    after: tuple[int, int] | None = None
    while True:
        rows = await conn.fetch(
            "SELECT id, chain_seq, hash, sealed FROM audit_checkpoints"
            " WHERE $1::bigint IS NULL OR (chain_seq, id) > ($1, $2)"
            " ORDER BY chain_seq, id LIMIT $3",
            after[0] if after else None,
            after[1] if after else None,
            _PAGE,
        )
        for row in rows:
            yield row
        if len(rows) < _PAGE:
            return
        after = (rows[-1]["chain_seq"], rows[-1]["id"])


async def _walk(
    conn: asyncpg.Connection,
    report: VerifyReport,
    seal_cert: x509.Certificate | signing.TrustStore | None,
) -> Finding | None:
    checkpoints = _checkpoints_in_order(conn)
    cp = await anext(checkpoints, None)
    if cp is not None and cp["chain_seq"] < 1:
        return _checkpoint_problem(cp, None, seal_cert, head=None)
    expected_seq, expected_prev = 1, GENESIS
    before: asyncpg.Record | None = None
    async for row in _pages(
        conn,
        "SELECT id, at, event, organ_id, document_id, delivery_id, details, chain_seq, prev_hash, content_hash, hash FROM audit_events"
        " WHERE chain_seq IS NOT NULL AND ($1::bigint IS NULL OR chain_seq > $1)"
        " ORDER BY chain_seq LIMIT $2",
    ):
        problem = await _check_entry(conn, row, expected_seq, expected_prev, before)
        if problem is not None:
            return problem
        report.entries += 1
        expected_seq, expected_prev, before = row["chain_seq"] + 1, row["hash"], row
        report.head_seq, report.head_hash = row["chain_seq"], row["hash"]
        # The chain has no gap up to here, so a checkpoint's number is always met exactly.
        while cp is not None and cp["chain_seq"] == row["chain_seq"]:
            problem = _checkpoint_problem(cp, row, seal_cert, head=row["hash"])
            if problem is not None:
                return problem
            report.checkpoints += 1
            report.last_checkpoint_seq = row["chain_seq"]
            cp = await anext(checkpoints, None)
    if cp is not None:
        # A checkpoint past the end of the chain: the entries it covered are gone.
        return _checkpoint_problem(cp, None, seal_cert, head=None, end=before)
    return None


async def _check_entry(
    conn: asyncpg.Connection,
    row: asyncpg.Record,
    expected_seq: int,
    expected_prev: str,
    before: asyncpg.Record | None,
) -> Finding | None:
    seq = row["chain_seq"]
    what = _describe(row)
    digest = content_hash(entry_content(row))
    content_ok = (
        digest == row["content_hash"] and link_hash(row["prev_hash"], digest) == row["hash"]
    )
    linked = row["prev_hash"] == expected_prev

    if seq < expected_seq:
        return Finding(
            "inserted",
            f"{what} was inserted: the chain is numbered from 1",
            row["id"],
            seq,
        )
    if seq > expected_seq:
        missing = str(expected_seq) if seq == expected_seq + 1 else f"{expected_seq}–{seq - 1}"
        after = f" after {_describe(before)}" if before is not None else " at the start"
        return Finding(
            "deleted",
            f"chain {missing} is missing: {seq - expected_seq} entr"
            f"{'y was' if seq == expected_seq + 1 else 'ies were'} deleted{after} and before {what}",
            None,
            expected_seq,
        )
    if linked and content_ok:
        return None
    if not linked:
        moved = await conn.fetchrow(
            "SELECT id, at, event, organ_id, document_id, delivery_id, details, chain_seq FROM audit_events WHERE hash = $1 AND chain_seq > $2"
            " ORDER BY chain_seq LIMIT 1",
            row["prev_hash"],
            seq,
        )
        if moved is not None:
            return Finding(
                "reordered",
                f"{what} is out of order: it was chained right after {_describe(moved)}",
                row["id"],
                seq,
            )
        if before is not None and row["prev_hash"] == before["prev_hash"]:
            return Finding(
                "inserted",
                f"{_describe(before)} was inserted: the entry after it, {what}, "
                "links to the entry before it",
                before["id"],
                before["chain_seq"],
            )
    following = await conn.fetchrow(
        "SELECT prev_hash FROM audit_events WHERE chain_seq > $1 ORDER BY chain_seq LIMIT 1", seq
    )
    if following is not None and following["prev_hash"] == expected_prev:
        return Finding(
            "inserted",
            f"{what} was inserted: the entry after it links to the entry before it",
            row["id"],
            seq,
        )
    if not content_ok:
        return Finding(
            "edited",
            f"{what} was edited: its hash does not match its content",
            row["id"],
            seq,
        )
    assert before is not None  # the first entry's expected prev_hash is the genesis
    return Finding(
        "relinked",
        f"{_describe(before)} was rewritten (content and hash recomputed), or an entry after it "
        f"was deleted and the later ones renumbered: {what} does not link to it",
        before["id"],
        before["chain_seq"],
    )


def _checkpoint_problem(
    cp: asyncpg.Record,
    row: asyncpg.Record | None,
    seal_cert: x509.Certificate | signing.TrustStore | None,
    *,
    head: str | None,
    end: asyncpg.Record | None = None,
) -> Finding | None:
    name = f"checkpoint {cp['id']} (chain {cp['chain_seq']})"
    sealed = cp["sealed"]
    if isinstance(sealed, str):
        sealed = json.loads(sealed)
    payload, why = seal_problem(sealed, seal_cert)
    if payload is None:
        return Finding(
            "checkpoint",
            f"{name} is forged: its seal does not hold ({why})",
            checkpoint_id=cp["id"],
            chain_seq=cp["chain_seq"],
        )
    if (
        payload.get("type") != CHECKPOINT_TYPE
        or payload.get("chain_seq") != cp["chain_seq"]
        or payload.get("hash") != cp["hash"]
    ):
        return Finding(
            "checkpoint",
            f"{name} was edited: its columns differ from the payload the axis sealed",
            checkpoint_id=cp["id"],
            chain_seq=cp["chain_seq"],
        )
    if row is None:
        tail = f"; the chain ends at {_describe(end)}" if end is not None else ""
        return Finding(
            "deleted",
            f"{name} seals an entry that is no longer in the chain: entries were deleted{tail}",
            checkpoint_id=cp["id"],
            chain_seq=cp["chain_seq"],
        )
    if cp["hash"] != head:
        return Finding(
            "rewritten",
            f"the chain up to {_describe(row)} was rewritten with recomputed hashes: {name} "
            f"sealed {cp['hash'][:16]}…, the chain now has {str(head)[:16]}…",
            row["id"],
            row["chain_seq"],
            cp["id"],
        )
    return None


# ---------------------------------------------------------------- proofs


def _concerns(
    row: asyncpg.Record, viewer: str, sender: str | None, own_deliveries: set[uuid.UUID]
) -> bool:
    """Whether a recipient `viewer` may read an entry about the letter: the sender's own
    entries (acceptance, recall) and those about the viewer's delivery, not the other recipients'."""
    if row["delivery_id"] is not None:
        return bool(row["delivery_id"] in own_deliveries)
    return row["organ_id"] in (viewer, sender, None)


async def build_proof(
    conn: asyncpg.Connection, document_id: uuid.UUID, viewer: str | None = None
) -> dict[str, Any] | None:
    """The entries about a document and, for each, the links up to a sealed checkpoint that
    covers it; None while some entry is not yet chained or covered.

    `viewer` is the agency asking: its sender (or the operator, None) sees every entry; a
    recipient sees the sender's entries and its own, the other recipients' as hashes only."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        sender = await conn.fetchval("SELECT sender FROM documents WHERE id = $1", document_id)
        own_deliveries: set[uuid.UUID] = set()
        role = "operator"
        if viewer is not None:
            role = "sender" if viewer == sender else "recipient"
            own_deliveries = {
                r["id"]
                for r in await conn.fetch(
                    "SELECT id FROM deliveries WHERE document_id = $1 AND recipient = $2",
                    document_id,
                    viewer,
                )
            }
        rows = await conn.fetch(
            "SELECT id, at, event, organ_id, document_id, delivery_id, details, chain_seq, prev_hash, content_hash, hash FROM audit_events WHERE document_id = $1"
            " ORDER BY chain_seq NULLS LAST, id",
            document_id,
        )
        if not rows:
            raise NotFound(f"the audit log has no entry about {document_id}", where="document")
        if any(r["chain_seq"] is None for r in rows):
            return None
        segments: list[dict[str, Any]] = []
        covered_to = 0
        for row in rows:
            if row["chain_seq"] <= covered_to:
                continue
            cp = await conn.fetchrow(
                "SELECT chain_seq, sealed FROM audit_checkpoints WHERE chain_seq >= $1"
                " ORDER BY chain_seq, id LIMIT 1",
                row["chain_seq"],
            )
            if cp is None:
                return None
            links = await conn.fetch(
                "SELECT chain_seq, prev_hash, content_hash, hash FROM audit_events WHERE chain_seq BETWEEN $1 AND $2"
                " ORDER BY chain_seq",
                row["chain_seq"],
                cp["chain_seq"],
            )
            sealed = cp["sealed"]
            segments.append(
                {
                    "checkpoint": json.loads(sealed) if isinstance(sealed, str) else sealed,
                    "links": [dict(link) for link in links],
                }
            )
            covered_to = cp["chain_seq"]
    entries = [
        proof_entry(r, role != "recipient" or _concerns(r, str(viewer), sender, own_deliveries))
        for r in rows
    ]
    return proof_document(str(document_id), role, viewer, entries, segments)


async def proof(
    db: Database,
    seal: signing.Seal,
    policy: CheckpointPolicy,
    document_id: uuid.UUID,
    viewer: str | None = None,
) -> dict[str, Any]:
    """A proof for `document_id` as `viewer` may see it (see build_proof); when its latest
    entries are not covered yet, chains them and seals a checkpoint on the spot rather than
    making the agency wait for the next one."""
    for _ in range(3):
        async with db.connection() as conn:
            built = await build_proof(conn, document_id, viewer)
            if built is not None:
                return built
            await catch_up(conn, seal, policy)
    raise AuditNotCovered(
        "the audit chain has not caught up with this letter yet; try again in a few seconds",
        where="audit",
    )
