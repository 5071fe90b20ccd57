"""The outbox relay: publishes committed deliveries to RabbitMQ with publisher confirms.

Rows are claimed with FOR UPDATE SKIP LOCKED, so any number of hub processes relay side by side;
a row is deleted only in the transaction that saw its publish confirmed. A crash between the
confirm and the commit publishes the row again, which the idempotent consumers absorb.
"""

from __future__ import annotations

import asyncio
import logging

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange

from axis import metrics
from axis.core.waits import wait_until
from axis.workers.broker import Broker
from axis.workers.notice import Notice
from axis.workers.topology import Names, declare_agency_queue, declare_exchange
from axis.workers.worker import PeriodicWorker
from storage.db import Database

log = logging.getLogger("axis.relay")

BATCH = 500

#: The oldest committed outbox rows no other process holds, by the outbox's primary key: the
#: outbox only holds what is not yet published, so this never reads the ledger's history.
CLAIM = """SELECT o.id, o.delivery_id, o.routing_key, d.document_id
             FROM outbox o JOIN deliveries d ON d.id = o.delivery_id
            ORDER BY o.id LIMIT $1 FOR UPDATE OF o SKIP LOCKED"""


class Relay(PeriodicWorker):
    """Publishes the outbox, woken by NOTIFY at each commit and by a short poll."""

    name = "outbox-relay"

    def __init__(
        self, db: Database, broker: Broker, names: Names, *, poll_interval: float = 1.0
    ) -> None:
        super().__init__()
        self.db = db
        self.broker = broker
        self.names = names
        self.interval = poll_interval
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._declared: set[str] = set()

    async def tick(self) -> None:
        while await self.relay_once():
            pass

    def failed(self, exc: BaseException) -> None:
        self._channel = None

    async def pause(self, delay: float) -> None:
        """Wait `delay` before the next try, or less when what failed is back.

        After an outage the backoff has grown to many seconds; sleeping it out would leave every
        committed letter waiting that long after RabbitMQ or PostgreSQL returned. RabbitMQ's return
        is its connection coming back; PostgreSQL's is the listener reconnecting, which wakes us.
        """
        floor = min(delay, 0.5)  # however often we are woken, never a tight loop of failures
        await asyncio.sleep(floor)
        self._wake.clear()
        back = self._wake.wait() if self.broker.is_connected else self.broker.until_connected()
        await wait_until(back, delay - floor)

    async def _exchange_for(self) -> AbstractExchange:
        if self._channel is None or self._channel.is_closed or self._exchange is None:
            self._channel = await self.broker.connection.channel(
                publisher_confirms=True, on_return_raises=True
            )
            self._exchange = await declare_exchange(self._channel, self.names)
            self._declared.clear()
        return self._exchange

    async def relay_once(self) -> int:
        """Publish one batch; returns how many rows were relayed."""
        async with self.db.connection() as conn, conn.transaction():
            rows = await conn.fetch(CLAIM, BATCH)
            if not rows:
                return 0
            exchange = await self._exchange_for()
            assert self._channel is not None
            for key in {r["routing_key"] for r in rows} - self._declared:
                # A queue must exist before its first notice, or the broker would drop it.
                await declare_agency_queue(self._channel, self.names, key)
                self._declared.add(key)
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(
                            Notice.delivery(
                                r["delivery_id"], r["document_id"], r["routing_key"]
                            ).encode(),
                            message_id=str(r["delivery_id"]),
                            content_type="application/json",
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        ),
                        routing_key=r["routing_key"],
                        mandatory=True,
                    )
                    for r in rows
                )
            )
            await conn.execute(
                "DELETE FROM outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows]
            )
        metrics.STAGE.labels("relayed").inc(len(rows))
        return len(rows)
