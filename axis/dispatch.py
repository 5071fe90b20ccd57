"""Dispatchers: consume each agency's queue, make pull deliveries available, push to webhooks.

The broker plumbing (ack, requeue, retry queues, dead-letter) lives here; the handlers are the
service functions of axis.delivery. Each agency has its own channel and prefetch, so an agency
whose webhook hangs holds up nobody else. Pushes to one agency go strictly in sending order: a
PostgreSQL advisory lock lets one hub process at a time drain an agency, head of line first.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aio_pika
import aiohttp
import asyncpg
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from axis import metrics, repo
from axis.delivery import _arrived_status, make_available, mark_acknowledged
from axis.hub import Hub
from axis.topology import declare_agency_queue, declare_retry_queues
from storage.blobs import BlobError
from storage.db import DatabaseUnavailable

log = logging.getLogger("axis.dispatch")

PREFETCH = 50
SWEEP_INTERVAL = 5.0
PULL_GRACE = 60.0  # seconds a relayed pull delivery may wait for its notice before the sweep acts


def push_signature(token_hash: str, delivery_id: str, content_sha256: str) -> str:
    """What a push agency checks: HMAC-SHA256 keyed with SHA-256(token) (hex) over id and body hash."""
    message = f"{delivery_id}\n{content_sha256}".encode("ascii")
    return "sha256=" + hmac.new(token_hash.encode("ascii"), message, hashlib.sha256).hexdigest()


class Dispatcher:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        cfg = hub.config
        self.delays = cfg.push_retry_delays
        self.max_attempts = cfg.push_max_attempts
        self.push_timeout = cfg.push_timeout
        self._channels: dict[str, AbstractChannel] = {}
        self._task: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._local_locks: dict[str, asyncio.Lock] = {}
        self._changed: asyncio.Queue[str] = asyncio.Queue()

    def agencies_changed(self, organ_id: str) -> None:
        self._changed.put_nowait(organ_id)

    def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.push_timeout),
            headers={"User-Agent": "axis-dispatcher/1"},
        )
        self._task = asyncio.create_task(self._run(), name="dispatcher")
        self._sweeper = asyncio.create_task(self._sweep(), name="push-sweeper")

    async def close(self) -> None:
        for task in (self._task, self._sweeper):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for channel in self._channels.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(channel.close(), 5.0)
        self._channels.clear()
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                await self.hub.broker.start(wait=True)
                await self.hub.db.wait_ready(timeout=3600)
                connection = self.hub.broker.connection
                setup = await connection.channel()
                await declare_retry_queues(setup, self.hub.names, self.delays)
                await setup.close()
                async with self.hub.db.connection() as conn:
                    organs = [
                        r["organ_id"] for r in await repo.list_agencies(conn, active_only=False)
                    ]
                for organ in organs:
                    await self.consume(organ)
                delay = 0.5
                while True:
                    organ = await self._changed.get()
                    if organ == "*":
                        async with self.hub.db.connection() as conn:
                            organs = [
                                r["organ_id"]
                                for r in await repo.list_agencies(conn, active_only=False)
                            ]
                        for each in organs:
                            await self.consume(each)
                    else:
                        await self.consume(organ)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "event=dispatcher_setup_failed retry_in=%.1fs error=%r",
                    delay,
                    f"{type(exc).__name__}: {exc}",
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 15.0)

    async def consume(self, organ_id: str) -> None:
        """Start consuming an agency's queue in this process (once; robust channels resume by themselves)."""
        if organ_id in self._channels:
            return
        channel = await self.hub.broker.connection.channel()
        await channel.set_qos(prefetch_count=PREFETCH)
        queue = await declare_agency_queue(channel, self.hub.names, organ_id)
        await queue.consume(self._on_message)
        self._channels[organ_id] = channel

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            notice = json.loads(message.body)
            organ = str(notice["recipient"])
        except (ValueError, KeyError, TypeError):
            log.error("event=bad_notice body=%r", message.body[:200])
            await message.reject(requeue=False)
            return
        try:
            async with self.hub.db.connection() as conn:
                agency = await repo.get_agency(conn, organ)
            if agency is None:
                await message.ack()
                return
            if agency["delivery_mode"] == "push":
                await self.drain(organ)
            elif "delivery_id" in notice:
                await make_available(self.hub, uuid.UUID(notice["delivery_id"]))
            await message.ack()
        except (DatabaseUnavailable, OSError) as exc:
            # PostgreSQL is away: give the notice back after a pause instead of spinning on it.
            log.warning("event=dispatch_deferred organ=%s error=%r", organ, str(exc))
            await asyncio.sleep(1.0)
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)
            raise
        except Exception:
            log.exception("event=dispatch_failed organ=%s", organ)
            await asyncio.sleep(1.0)
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)

    @contextlib.asynccontextmanager
    async def _drain_lock(self, organ_id: str) -> AsyncIterator[object]:
        local = self._local_locks.setdefault(organ_id, asyncio.Lock())
        async with local, self.hub.db.connection() as conn:
            key = f"axis-push:{organ_id}"
            await conn.execute("SELECT pg_advisory_lock(hashtext($1))", key)
            try:
                yield conn
            finally:
                await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", key)

    async def drain(self, organ_id: str) -> None:
        """Push the agency's waiting deliveries in order until one fails or none is due."""
        async with self._drain_lock(organ_id):
            while True:
                async with self.hub.db.connection() as conn:
                    agency = await repo.get_agency(conn, organ_id)
                    row = await conn.fetchrow(
                        """SELECT d.id, d.seq, d.attempts, d.next_attempt_at, doc.id AS document_id, doc.kind,
                                  doc.sender, doc.content_sha256, doc.size, doc.edxml_document_id, doc.subject,
                                  doc.status_code, d.recipient
                             FROM deliveries d JOIN documents doc ON doc.id = d.document_id
                            WHERE d.recipient = $1 AND d.state IN ('queued', 'available')
                            ORDER BY d.seq LIMIT 1""",
                        organ_id,
                    )
                if row is None or agency is None:
                    return
                if agency["delivery_mode"] != "push":
                    return
                if row["next_attempt_at"] is not None and row["next_attempt_at"] > datetime.now(
                    UTC
                ):
                    return  # a retry notice is on its way
                error = await self._push(agency, row)
                if error is None:
                    await self._pushed(agency, row)
                    continue
                if not await self._failed(organ_id, row, error):
                    return

    async def _push(self, agency: asyncpg.Record, row: asyncpg.Record) -> str | None:
        assert self._session is not None
        delivery_id = str(row["id"])
        headers = {
            "Content-Type": "application/xml",
            "X-Axis-Delivery-Id": delivery_id,
            "X-Axis-Document-Id": str(row["document_id"]),
            "X-Axis-Kind": row["kind"],
            "X-Axis-Sender": row["sender"],
            "X-Axis-Content-SHA256": row["content_sha256"],
            "X-Axis-Signature": push_signature(
                agency["token_hash"], delivery_id, row["content_sha256"]
            ),
        }
        if row["status_code"]:
            headers["X-Axis-Status-Code"] = row["status_code"]
        try:
            body = self.hub.blobs.open(row["content_sha256"])
            async with self._session.post(
                agency["webhook_url"], data=body, headers=headers
            ) as resp:
                if 200 <= resp.status < 300:
                    metrics.PUSH_ATTEMPTS.labels("ok").inc()
                    return None
                metrics.PUSH_ATTEMPTS.labels("refused").inc()
                return f"webhook answered HTTP {resp.status}"
        except (TimeoutError, aiohttp.ClientError, OSError, BlobError) as exc:
            metrics.PUSH_ATTEMPTS.labels("error").inc()
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

    async def _pushed(self, agency: asyncpg.Record, row: asyncpg.Record) -> None:
        status_blob = None
        if row["kind"] == "letter":
            from axis import agencies

            async with self.hub.db.connection() as conn:
                recipient = await agencies.get(conn, row["recipient"])
            # The drain's row already carries the letter's id, sender and DocumentId.
            status_blob = await _arrived_status(self.hub, row, recipient)
        async with self.hub.db.connection() as conn, conn.transaction():
            await mark_acknowledged(conn, row["id"], status_blob, via="push")

    async def _failed(self, organ_id: str, row: asyncpg.Record, error: str) -> bool:
        """Record a failed push; True when the delivery was dead-lettered and the next one may go."""
        attempts = row["attempts"] + 1
        delivery_id = row["id"]
        async with self.hub.db.connection() as conn, conn.transaction():
            if attempts >= self.max_attempts:
                await conn.execute(
                    """UPDATE deliveries SET state = 'failed', attempts = $2, last_error = $3, failed_at = now(),
                              next_attempt_at = NULL WHERE id = $1""",
                    delivery_id,
                    attempts,
                    error,
                )
                await repo.audit(
                    conn,
                    "delivery_failed",
                    organ_id=organ_id,
                    document_id=row["document_id"],
                    delivery_id=delivery_id,
                    details={"attempts": attempts, "error": error},
                )
            else:
                delay = self.delays[min(attempts - 1, len(self.delays) - 1)]
                await conn.execute(
                    "UPDATE deliveries SET attempts = $2, last_error = $3, next_attempt_at = $4 WHERE id = $1",
                    delivery_id,
                    attempts,
                    error,
                    datetime.now(UTC) + timedelta(seconds=delay),
                )
        log.warning(
            "event=push_failed organ=%s delivery_id=%s attempt=%d error=%r",
            organ_id,
            delivery_id,
            attempts,
            error,
        )
        channel = await self.hub.broker.connection.channel(publisher_confirms=True)
        try:
            if attempts >= self.max_attempts:
                metrics.STAGE.labels("dead_lettered").inc()
                await channel.default_exchange.publish(
                    aio_pika.Message(
                        json.dumps(
                            {"delivery_id": str(delivery_id), "recipient": organ_id, "error": error}
                        ).encode(),
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=self.hub.names.dead,
                )
                return True
            level = min(attempts - 1, len(self.delays) - 1)
            exchange = await channel.get_exchange(self.hub.names.retry(level))
            await exchange.publish(
                aio_pika.Message(
                    json.dumps({"type": "retry", "recipient": organ_id}).encode(),
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=organ_id,
            )
            return False
        finally:
            await channel.close()

    async def _sweep_pull(self) -> None:
        """Safety net for pull agencies: a delivery relayed long ago but never made available
        (its notice lost, e.g. dropped after a broker's redelivery limit) is made available."""
        async with self.hub.db.connection() as conn:
            stuck = await conn.fetch(
                """SELECT d.id FROM deliveries d JOIN agencies a ON a.organ_id = d.recipient
                    WHERE a.delivery_mode = 'pull' AND d.state = 'queued'
                      AND d.created_at < now() - make_interval(secs => $1)
                      AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.delivery_id = d.id)
                    ORDER BY d.seq LIMIT 500""",
                PULL_GRACE,
            )
        for r in stuck:
            if await make_available(self.hub, r["id"]):
                log.warning("event=pull_notice_missing delivery_id=%s", r["id"])

    async def _sweep(self) -> None:
        """Safety net: drain push agencies whose retry notice or first notice went missing."""
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            try:
                async with self.hub.db.connection() as conn:
                    organs = await conn.fetch(
                        """SELECT DISTINCT d.recipient FROM deliveries d JOIN agencies a ON a.organ_id = d.recipient
                            WHERE a.delivery_mode = 'push' AND d.state IN ('queued', 'available')
                              AND d.created_at < now() - make_interval(secs => $1)
                              AND (d.next_attempt_at IS NULL OR d.next_attempt_at < now() - make_interval(secs => $1))""",
                        SWEEP_INTERVAL,
                    )
                for r in organs:
                    await self.drain(r["recipient"])
                await self._sweep_pull()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("event=sweep_failed error=%r", f"{type(exc).__name__}: {exc}")
