"""Broker consumption: each agency's queue is consumed on its own channel, each notice handled and
then settled by one rule, `ack_policy`; a push agency's queue drains through the webhook in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import AsyncIterator

import asyncpg
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from axis.core import repo
from axis.core.delivery import acknowledge_push, make_available, push_body
from axis.hub import Hub
from axis.workers.dispatch import retries
from axis.workers.dispatch.push import Pusher, push_headers
from axis.workers.dispatch.sweep import Sweeper
from axis.workers.notice import BadNotice, Notice
from axis.workers.topology import declare_agency_queue, declare_retry_queues
from axis.workers.worker import Worker
from storage.db import DatabaseUnavailable

log = logging.getLogger("axis.dispatch")

PREFETCH = 50
#: After a failure, a notice goes back to the queue only after this pause, not in a tight loop.
REQUEUE_PAUSE = 1.0


class Outcome(enum.Enum):
    HANDLED = "handled"  # done, or nothing to do (an agency no longer registered)
    MALFORMED = "malformed"  # not a notice at all
    DEFERRED = "deferred"  # PostgreSQL is away: the same notice will work later
    FAILED = "failed"  # an unexpected error while handling it
    INTERRUPTED = "interrupted"  # the hub is shutting down in the middle of it


class Ack(enum.Enum):
    ACK = "ack"  # done with: the broker forgets it
    NACK = "nack"  # give it back to the queue, to be handled again
    REJECT = "reject"  # drop it: handling it again cannot succeed


def ack_policy(outcome: Outcome) -> Ack:
    """How a notice is settled with the broker once handled.

    Only a malformed notice is dropped: PostgreSQL holds the truth, and a notice is only a nudge,
    so anything that may work later goes back to the queue (the quorum queue's delivery limit and
    the sweepers bound what a notice that never works can cost).
    """
    if outcome is Outcome.HANDLED:
        return Ack.ACK
    if outcome is Outcome.MALFORMED:
        return Ack.REJECT
    return Ack.NACK


async def settle(message: AbstractIncomingMessage, action: Ack) -> None:
    """Tell the broker; a channel that died meanwhile redelivers the notice by itself."""
    try:
        if action is Ack.ACK:
            await message.ack()
        elif action is Ack.NACK:
            await message.nack(requeue=True)
        else:
            await message.reject(requeue=False)
    except Exception as exc:
        log.warning(
            "event=settle_failed action=%s error=%r", action.value, f"{type(exc).__name__}: {exc}"
        )


class Dispatcher(Worker):
    """Consumes every agency's queue in this process; pushes wait on one advisory lock per agency,
    so one hub process at a time drains an agency, head of line first."""

    name = "dispatcher"

    def __init__(self, hub: Hub) -> None:
        super().__init__()
        self.hub = hub
        self.pusher = Pusher(hub.config.push_timeout)
        self.retries = retries.Retries(hub)
        self._channels: dict[str, AbstractChannel] = {}
        self._local_locks: dict[str, asyncio.Lock] = {}
        self._changed: asyncio.Queue[str] = asyncio.Queue()
        self.sweeper = Sweeper(self)

    def agencies_changed(self, organ_id: str) -> None:
        self._changed.put_nowait(organ_id)

    def start(self) -> None:
        self.pusher.start()
        super().start()
        self.sweeper.start()

    async def close(self, timeout: float = 10.0) -> None:
        # Both loops share the bound, so the whole close stays within the hub's shut-down step.
        await self.sweeper.close(timeout / 2)
        await super().close(timeout / 2)
        for channel in self._channels.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(channel.close(), 5.0)
        self._channels.clear()
        await self.pusher.close()

    async def _all_organs(self) -> list[str]:
        async with self.hub.db.connection() as conn:
            return [r["organ_id"] for r in await repo.list_agencies(conn, active_only=False)]

    async def run(self) -> None:
        """Set up the topology, consume every agency's queue, then follow registry changes."""
        await self.hub.broker.until_connected()
        await self.hub.db.wait_ready(timeout=3600)
        setup = await self.hub.broker.connection.channel()
        await declare_retry_queues(setup, self.hub.names, self.hub.config.push_retry_delays)
        await setup.close()
        for organ in await self._all_organs():
            await self.consume(organ)
        self.recovered()
        while True:
            organ = await self._changed.get()
            for each in await self._all_organs() if organ == "*" else [organ]:
                await self.consume(each)

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
            outcome = await self._outcome(message)
        except asyncio.CancelledError:
            await settle(message, ack_policy(Outcome.INTERRUPTED))
            raise
        if outcome in (Outcome.DEFERRED, Outcome.FAILED):
            await asyncio.sleep(REQUEUE_PAUSE)
        await settle(message, ack_policy(outcome))

    async def _outcome(self, message: AbstractIncomingMessage) -> Outcome:
        try:
            notice = Notice.decode(message.body)
        except BadNotice as exc:
            log.error("event=bad_notice reason=%r body=%r", str(exc), message.body[:200])
            return Outcome.MALFORMED
        try:
            await self.handle(notice)
            return Outcome.HANDLED
        except (DatabaseUnavailable, OSError) as exc:
            # PostgreSQL is away: give the notice back after a pause instead of spinning on it.
            log.warning("event=dispatch_deferred organ=%s error=%r", notice.recipient, str(exc))
            return Outcome.DEFERRED
        except Exception:
            log.exception("event=dispatch_failed organ=%s", notice.recipient)
            return Outcome.FAILED

    async def handle(self, notice: Notice) -> None:
        """What a notice asks for: a push agency's queue drains, a pull delivery becomes available."""
        async with self.hub.db.connection() as conn:
            agency = await repo.get_agency(conn, notice.recipient)
        if agency is None:
            return
        if agency["delivery_mode"] == "push":
            await self.drain(notice.recipient)
        elif notice.kind == "delivery" and notice.delivery_id is not None:
            await make_available(self.hub, notice.delivery_id)

    @contextlib.asynccontextmanager
    async def _drain_lock(self, organ_id: str) -> AsyncIterator[object]:
        local = self._local_locks.setdefault(organ_id, asyncio.Lock())
        # A session lock: the connection is reset fully before it goes back to the pool.
        async with local, self.hub.db.connection(session_state=True) as conn:
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
                    row = await retries.head_of_line(conn, organ_id)
                if row is None or agency is None or agency["delivery_mode"] != "push":
                    return
                if not retries.is_due(row):
                    return  # a retry notice is on its way
                error = await self._push(agency, row)
                if error is None:
                    await self._pushed(row)
                    continue
                if not await self.retries.failed(organ_id, row, error):
                    return

    async def _push(self, agency: asyncpg.Record, row: asyncpg.Record) -> str | None:
        # A stream: a missing or corrupt blob shows while it is read, as a failed attempt.
        return await self.pusher.post(
            agency["webhook_url"],
            await push_body(self.hub, row["content_sha256"]),
            push_headers(agency["token_hash"], row),
            allow_private=agency["webhook_allow_private"],
        )

    async def _pushed(self, row: asyncpg.Record) -> None:
        await acknowledge_push(self.hub, row["id"])
