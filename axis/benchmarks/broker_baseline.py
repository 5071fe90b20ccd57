"""The yardstick beside the hub: the bare broker carrying the very same signed letters to as many
durable quorum queues as the letters have recipients, published with confirms and consumed with
acks. A letter is fully delivered when every recipient's consumer has acknowledged its copy."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from axis.benchmarks.figures import latency_ms

#: As the hub's dispatcher sets it on each agency's channel.
PREFETCH = 50
#: Publishes awaiting their confirm at once, as the hub's relay publishes a batch of its outbox
#: (axis.workers.relay.BATCH): the broker is measured at its pace, not at one sender's.
IN_FLIGHT = 500
#: Every recipient's queue is bound with this key, so one publish reaches them all, as a letter
#: addressed to several agencies is sent once.
LETTER_KEY = "letter"


async def measure(
    amqp_url: str,
    prefix: str,
    bodies: list[bytes],
    recipients: int,
    timeout: float,
) -> dict[str, Any]:
    """Publish each of `bodies` once, persistent, on one confirming channel with up to IN_FLIGHT
    unconfirmed (as the hub's relay), routed to `recipients` quorum queues, while one consumer per
    queue acks each copy; letters fully delivered per second and the publish→all-acked latency."""
    exchange_name = f"{prefix}.baseline"
    queue_names = [f"{prefix}.baseline.{i}" for i in range(recipients)]
    connection = await aio_pika.connect(amqp_url, timeout=10)
    try:
        setup = await connection.channel()
        exchange = await setup.declare_exchange(
            exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        for name in queue_names:
            queue = await setup.declare_queue(
                name,
                durable=True,
                arguments={"x-queue-type": "quorum", "x-single-active-consumer": True},
            )
            await queue.bind(exchange, routing_key=LETTER_KEY)
        await setup.close()
        try:
            return await asyncio.wait_for(
                _run(connection, exchange_name, queue_names, bodies), timeout
            )
        finally:
            cleanup = await connection.channel()
            for name in queue_names:
                with contextlib.suppress(Exception):
                    await cleanup.queue_delete(name)
            with contextlib.suppress(Exception):
                await cleanup.exchange_delete(exchange_name)
    finally:
        await connection.close()


class _Acks:
    """Counts each letter's acks; a letter is done when all its copies are acked."""

    def __init__(self, letters: int, copies: int) -> None:
        self.letters = letters
        self.copies = copies
        self.published_at: dict[str, float] = {}
        self.acks: dict[str, int] = {}
        self.done_after: list[float] = []  # seconds from publish to the last copy's ack
        self.last = 0.0
        self.all_done = asyncio.Event()

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        await message.ack()
        key = message.message_id or ""
        count = self.acks.get(key, 0) + 1
        self.acks[key] = count
        if count == self.copies:
            now = time.perf_counter()
            self.done_after.append(now - self.published_at.get(key, now))
            if len(self.done_after) >= self.letters:
                self.last = now
                self.all_done.set()


async def _run(
    connection: aio_pika.abc.AbstractConnection,
    exchange_name: str,
    queue_names: list[str],
    bodies: list[bytes],
) -> dict[str, Any]:
    acks = _Acks(len(bodies), len(queue_names))
    consumers = []
    for name in queue_names:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=PREFETCH)
        queue = await channel.get_queue(name, ensure=False)
        consumers.append((channel, queue, await queue.consume(acks.on_message)))
    try:
        publishing = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await publishing.get_exchange(exchange_name, ensure=False)
        window = asyncio.Semaphore(IN_FLIGHT)

        async def publish(body: bytes) -> None:
            async with window:
                message_id = str(uuid.uuid4())
                acks.published_at[message_id] = time.perf_counter()
                await exchange.publish(
                    aio_pika.Message(
                        body,
                        content_type="application/xml",
                        message_id=message_id,
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=LETTER_KEY,
                    mandatory=True,
                )

        started = time.perf_counter()
        await asyncio.gather(*(publish(body) for body in bodies))
        published = time.perf_counter()
        await acks.all_done.wait()
        await publishing.close()
    finally:
        # Consumers go before their queues, or the broker cancels them with a warning.
        for channel, queue, tag in consumers:
            with contextlib.suppress(Exception):
                await queue.cancel(tag)
            with contextlib.suppress(Exception):
                await channel.close()
    seconds = acks.last - started
    letters = len(bodies)
    return {
        "letters": letters,
        "queues": len(queue_names),
        "messages": letters * len(queue_names),
        "message_bytes": round(sum(len(b) for b in bodies) / letters),
        "in_flight": IN_FLIGHT,
        "publish_seconds": round(published - started, 3),
        "publish_per_s": round(letters / (published - started), 1),
        "seconds": round(seconds, 3),
        "letters_per_s": round(letters / seconds, 1),
        "messages_per_s": round(letters * len(queue_names) / seconds, 1),
        "latency_publish_to_all_acked_ms": latency_ms(acks.done_after),
    }
