"""Retry bookkeeping of pushes: which delivery is next for an agency, what a failed attempt writes,
when a delivery is given up on (dead-lettered), and what the sweepers look for.

What a failed attempt writes goes through the ledger (axis.core.ledger: schedule_retry, dead_letter), the
one writer of the deliveries table; the queries the dispatcher and the sweepers read are here.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aio_pika
import asyncpg

from axis import metrics
from axis.core import ledger
from axis.hub import Hub
from axis.workers.notice import Notice

log = logging.getLogger("axis.dispatch")


async def head_of_line(conn: asyncpg.Connection, organ_id: str) -> asyncpg.Record | None:
    """The agency's oldest delivery still waiting to be pushed, with what a push needs."""
    row: asyncpg.Record | None = await conn.fetchrow(
        """SELECT d.id, d.seq, d.attempts, d.next_attempt_at, doc.id AS document_id, doc.kind,
                  doc.sender, doc.content_sha256, doc.size, doc.edxml_document_id, doc.subject,
                  doc.status_code, d.recipient
             FROM deliveries d JOIN documents doc ON doc.id = d.document_id
            WHERE d.recipient = $1 AND d.state IN ('queued', 'available')
            ORDER BY d.seq LIMIT 1""",
        organ_id,
    )
    return row


def is_due(row: asyncpg.Record, now: datetime | None = None) -> bool:
    """False while a failed delivery waits for its retry (a retry notice is on its way)."""
    due = row["next_attempt_at"]
    return due is None or due <= (now or datetime.now(UTC))


@dataclass(frozen=True)
class Failure:
    attempts: int
    dead: bool
    #: The wait queue the retry notice goes through (when not dead).
    level: int


def plan_failure(attempts_before: int, max_attempts: int, delays: tuple[float, ...]) -> Failure:
    """What one more failed attempt means: the n-th attempt, given up on or retried after which delay."""
    attempts = attempts_before + 1
    return Failure(
        attempts=attempts,
        dead=attempts >= max_attempts,
        level=min(attempts - 1, len(delays) - 1),
    )


async def record_failure(
    conn: asyncpg.Connection,
    organ_id: str,
    row: asyncpg.Record,
    error: str,
    failure: Failure,
    delays: tuple[float, ...],
) -> None:
    """In the caller's transaction: the attempt, its error, and either the next try or `failed`."""
    if failure.dead:
        await ledger.dead_letter(
            conn,
            row["id"],
            row["document_id"],
            organ_id,
            attempts=failure.attempts,
            error=error,
        )
    else:
        await ledger.schedule_retry(
            conn,
            row["id"],
            row["document_id"],
            organ_id,
            attempts=failure.attempts,
            error=error,
            next_attempt_at=datetime.now(UTC) + timedelta(seconds=delays[failure.level]),
        )


class Retries:
    """Failed pushes: write them down, then nudge a retry through a wait queue or dead-letter."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.delays = hub.config.push_retry_delays
        self.max_attempts = hub.config.push_max_attempts

    async def failed(self, organ_id: str, row: asyncpg.Record, error: str) -> bool:
        """Record a failed push; True when the delivery was dead-lettered and the next one may go."""
        failure = plan_failure(row["attempts"], self.max_attempts, self.delays)
        async with self.hub.db.connection() as conn, conn.transaction():
            await record_failure(conn, organ_id, row, error, failure, self.delays)
        log.warning(
            "event=push_failed organ=%s delivery_id=%s attempt=%d error=%r",
            organ_id,
            row["id"],
            failure.attempts,
            error,
        )
        channel = await self.hub.broker.connection.channel(publisher_confirms=True)
        try:
            if failure.dead:
                metrics.STAGE.labels("dead_lettered").inc()
                await channel.default_exchange.publish(
                    _message(Notice.dead(row["id"], organ_id, error)),
                    routing_key=self.hub.names.dead,
                )
                return True
            exchange = await channel.get_exchange(self.hub.names.retry(failure.level))
            await exchange.publish(_message(Notice.retry(organ_id)), routing_key=organ_id)
            return False
        finally:
            await channel.close()


def _message(notice: Notice) -> aio_pika.Message:
    return aio_pika.Message(
        notice.encode(),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


async def stuck_push_agencies(conn: asyncpg.Connection, grace: float) -> list[str]:
    """Push agencies with a delivery waiting longer than `grace` past its first or next attempt.

    Asked per push agency of its deliveries in flight (the index on recipient and state), so the
    cost follows the push agencies and their backlog, never the ledger's history."""
    rows = await conn.fetch(
        """SELECT a.organ_id FROM agencies a
            WHERE a.delivery_mode = 'push' AND EXISTS (
                  SELECT 1 FROM deliveries d
                   WHERE d.recipient = a.organ_id AND d.state IN ('queued', 'available')
                     AND d.created_at < now() - make_interval(secs => $1)
                     AND (d.next_attempt_at IS NULL
                          OR d.next_attempt_at < now() - make_interval(secs => $1)))""",
        grace,
    )
    return [r["organ_id"] for r in rows]


async def stuck_pull_deliveries(conn: asyncpg.Connection, grace: float) -> list[uuid.UUID]:
    """Pull deliveries relayed more than `grace` ago whose notice never made them available,
    oldest first; read from the index of queued deliveries (migration 0011)."""
    rows = await conn.fetch(
        """SELECT d.id FROM deliveries d JOIN agencies a ON a.organ_id = d.recipient
            WHERE a.delivery_mode = 'pull' AND d.state = 'queued'
              AND d.created_at < now() - make_interval(secs => $1)
              AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.delivery_id = d.id)
            ORDER BY d.created_at LIMIT 500""",
        grace,
    )
    return [r["id"] for r in rows]


async def push_state(conn: asyncpg.Connection, organ_id: str) -> dict[str, object]:
    """The operator's view of an agency's pushes: how many wait, and the failing head's full error."""
    counts = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE state IN ('queued', 'available')) AS waiting,
                  count(*) FILTER (WHERE state = 'failed' AND push_failing_since IS NOT NULL) AS failed
             FROM deliveries WHERE recipient = $1""",
        organ_id,
    )
    head = await conn.fetchrow(
        """SELECT id, attempts, last_error, push_failing_since, next_attempt_at FROM deliveries
            WHERE recipient = $1 AND state IN ('queued', 'available') AND last_error IS NOT NULL
            ORDER BY seq LIMIT 1""",
        organ_id,
    )
    last_failed = await conn.fetchrow(
        """SELECT id, attempts, last_error, failed_at FROM deliveries
            WHERE recipient = $1 AND state = 'failed' AND push_failing_since IS NOT NULL
            ORDER BY failed_at DESC LIMIT 1""",
        organ_id,
    )

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "waiting": counts["waiting"],
        "failed": counts["failed"],
        "failing": None
        if head is None
        else {
            "delivery_id": str(head["id"]),
            "since": iso(head["push_failing_since"]),
            "attempts": head["attempts"],
            "next_attempt_at": iso(head["next_attempt_at"]),
            "last_error": head["last_error"],
        },
        "last_failed": None
        if last_failed is None
        else {
            "delivery_id": str(last_failed["id"]),
            "failed_at": iso(last_failed["failed_at"]),
            "attempts": last_failed["attempts"],
            "last_error": last_failed["last_error"],
        },
    }
