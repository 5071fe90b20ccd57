"""Telling people: the long-poll of GET /v1/cabinet/notifications, woken across hub processes by
PostgreSQL NOTIFY, and the relay that hands each notification once to RabbitMQ (routing key
`cabinet.notify`) for an e-mail/SMS gateway.

The relay claims rows of `cabinet_outbox` with FOR UPDATE SKIP LOCKED (any number of hub processes
relay side by side), publishes them with publisher confirms, and deletes them in the same
transaction only once every publish was confirmed. A crash before the commit publishes a row again
(at least once; the message_id is the notification's id for the gateway to drop a repeat)."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange
from aiohttp import web

from meetings import axis_port as ax

log = logging.getLogger("meetings.notices")

CHANNEL = "cabinet_notify"  # NOTIFY payload: the person's id
ROUTING_KEY = "cabinet.notify"
MAX_WAIT = 60.0
BATCH = 200


def gateway_queue(hub: ax.Hub) -> str:
    """The durable queue the hub keeps for the gateway, so nothing is dropped before it connects."""
    from meetings.plugin import GATEWAY_QUEUE

    return f"{hub.names.prefix}.{GATEWAY_QUEUE}"


class Waiters:
    """Long-polling requests per person, woken by NOTIFY from whichever hub process wrote."""

    def __init__(self) -> None:
        self._events: dict[str, set[asyncio.Event]] = {}

    def register(self, person_id: uuid.UUID) -> asyncio.Event:
        event = asyncio.Event()
        self._events.setdefault(str(person_id), set()).add(event)
        return event

    def unregister(self, person_id: uuid.UUID, event: asyncio.Event) -> None:
        found = self._events.get(str(person_id))
        if found is not None:
            found.discard(event)
            if not found:
                del self._events[str(person_id)]

    def wake(self, payload: str) -> None:
        """`*` (the listener reconnected: something may be missed) wakes everyone."""
        targets = (
            [e for events in self._events.values() for e in events]
            if payload == "*"
            else list(self._events.get(payload, ()))
        )
        for event in targets:
            event.set()


WAITERS = web.AppKey("cabinet_waiters", Waiters)


def wait_param(raw: str | None) -> float:
    if raw is None:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        raise ax.BadRequest(
            f"wait must be a number of seconds, not {raw[:40]!r}", where="wait"
        ) from None
    if not 0 <= value <= MAX_WAIT:  # NaN fails this too
        raise ax.BadRequest(f"wait must be between 0 and {MAX_WAIT:g} seconds", where="wait")
    return value


def notification_json(r: Any) -> dict[str, Any]:
    return {
        "id": r["id"],
        "kind": r["kind"],
        "at": r["at"].isoformat(),
        "meeting_id": str(r["meeting_id"]) if r["meeting_id"] else None,
        "consultation_id": str(r["consultation_id"]) if r["consultation_id"] else None,
        "title_vi": r["title_vi"],
        "title_en": r["title_en"],
        "details": json.loads(r["details"]),
    }


async def poll(
    hub: ax.Hub, waiters: Waiters, person_id: uuid.UUID, after: int, wait: float, limit: int = 100
) -> list[dict[str, Any]]:
    """The person's notifications after `after`; with `wait`, answers as soon as one is written."""
    event = waiters.register(person_id)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            event.clear()
            async with hub.db.connection() as conn:
                rows = await conn.fetch(
                    "SELECT * FROM cabinet_notifications WHERE person_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                    person_id, after, limit,
                )  # fmt: skip
            remaining = deadline - loop.time()
            if rows or remaining <= 0:
                return [notification_json(r) for r in rows]
            await ax.wait_event(event, remaining)
    finally:
        waiters.unregister(person_id, event)


class CabinetRelay(ax.Worker):
    """Publishes each committed notification once (publisher confirms) for the e-mail/SMS gateway;
    a supervised worker of the hub, with its back-off and bounded close."""

    name = "cabinet-relay"

    def __init__(self, hub: ax.Hub, *, poll_interval: float = 2.0) -> None:
        super().__init__()
        self.hub = hub
        self.poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None

    def wake(self, _payload: str = "") -> None:
        self._wake.set()

    def failed(self, exc: BaseException) -> None:
        self._channel = None

    async def run(self) -> None:
        while True:
            while await self.relay_once():
                pass
            self.recovered()
            await ax.wait_event(self._wake, self.poll_interval)
            self._wake.clear()

    async def _exchange_for(self) -> AbstractExchange:
        if self._channel is None or self._channel.is_closed or self._exchange is None:
            self._channel = await self.hub.broker.connection.channel(
                publisher_confirms=True, on_return_raises=True
            )
            self._exchange = await ax.declare_exchange(self._channel, self.hub)
            queue = await self._channel.declare_queue(
                gateway_queue(self.hub), durable=True, arguments={"x-queue-type": "quorum"}
            )
            await queue.bind(self._exchange, routing_key=ROUTING_KEY)
        return self._exchange

    async def relay_once(self) -> int:
        """Publish one batch; returns how many notifications left."""
        async with self.hub.db.connection() as conn, conn.transaction():
            rows = await conn.fetch(
                """SELECT o.id AS outbox_id, n.*, u.login, u.full_name
                     FROM cabinet_outbox o
                     JOIN cabinet_notifications n ON n.id = o.notification_id
                     JOIN users u ON u.id = n.person_id
                    ORDER BY o.id LIMIT $1 FOR UPDATE OF o SKIP LOCKED""",
                BATCH,
            )
            if not rows:
                return 0
            exchange = await self._exchange_for()
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(
                            json.dumps(
                                {
                                    **notification_json(r),
                                    "person_id": str(r["person_id"]),
                                    "login": r["login"],
                                    "full_name": r["full_name"],
                                },
                                ensure_ascii=False,
                            ).encode(),
                            message_id=f"cabinet-notification-{r['id']}",
                            content_type="application/json",
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        ),
                        routing_key=ROUTING_KEY,
                        mandatory=True,
                    )
                    for r in rows
                )
            )
            await conn.execute(
                "DELETE FROM cabinet_outbox WHERE id = ANY($1::bigint[])",
                [r["outbox_id"] for r in rows],
            )
        log.info("event=cabinet_notifications_relayed count=%d", len(rows))
        return len(rows)


async def running(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: the listener that wakes long-polls and the relay, for this hub process."""
    hub = ax.hub_of(app)
    relay = CabinetRelay(hub)
    waiters = app[WAITERS]

    def on_notify(payload: str) -> None:
        waiters.wake(payload)
        relay.wake()

    listener = ax.Listener(hub.config.database_url, {CHANNEL: on_notify})
    listener.start()
    relay.start()
    try:
        yield
    finally:
        await listener.close()
        await relay.close()


def setup(app: web.Application) -> None:
    app[WAITERS] = Waiters()
    app.cleanup_ctx.append(running)
