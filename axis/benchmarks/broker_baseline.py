"""The yardstick beside the hub: raw RabbitMQ moving the same number of small persistent notices
through one durable quorum queue per recipient, published with confirms and consumed with acks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

#: About the size of the hub's own notices (two ids and an organ id, in JSON).
NOTICE_BYTES = 200
#: As the hub's dispatcher sets it on each agency's channel.
PREFETCH = 50


def _notice(recipient: str) -> bytes:
    body = {
        "delivery_id": str(uuid.uuid4()),
        "document_id": str(uuid.uuid4()),
        "recipient": recipient,
    }
    raw = json.dumps(body)
    pad = max(0, NOTICE_BYTES - len(raw) - len(', "pad": ""'))
    return json.dumps({**body, "pad": "x" * pad}).encode()


async def measure(
    amqp_url: str,
    prefix: str,
    recipients: int,
    per_recipient: int,
    concurrency: int,
    timeout: float,
) -> dict[str, Any]:
    """Publish `recipients * per_recipient` persistent notices with `concurrency` publishers on
    one confirming channel (as the hub's relay), while one consumer per queue acks each one."""
    total = recipients * per_recipient
    exchange_name = f"{prefix}.baseline"
    queue_names = [f"{prefix}.baseline.{i}" for i in range(recipients)]
    connection = await aio_pika.connect(amqp_url, timeout=10)
    try:
        setup = await connection.channel()
        exchange = await setup.declare_exchange(
            exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        for i, name in enumerate(queue_names):
            queue = await setup.declare_queue(
                name,
                durable=True,
                arguments={"x-queue-type": "quorum", "x-single-active-consumer": True},
            )
            await queue.bind(exchange, routing_key=f"r{i}")
        await setup.close()
        try:
            return await asyncio.wait_for(
                _run(connection, exchange_name, queue_names, concurrency, total),
                timeout,
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
    """Counts the consumers' acks and notes the moment the last one went out."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.count = 0
        self.last = 0.0
        self.all_done = asyncio.Event()

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        await message.ack()
        self.count += 1
        if self.count >= self.total:
            self.last = time.perf_counter()
            self.all_done.set()


async def _run(
    connection: aio_pika.abc.AbstractConnection,
    exchange_name: str,
    queue_names: list[str],
    concurrency: int,
    total: int,
) -> dict[str, Any]:
    acks = _Acks(total)
    consumers = []
    for name in queue_names:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=PREFETCH)
        queue = await channel.get_queue(name, ensure=False)
        consumers.append((channel, queue, await queue.consume(acks.on_message)))
    try:
        publishing = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await publishing.get_exchange(exchange_name, ensure=False)
        keys = [f"r{i % len(queue_names)}" for i in range(total)]
        bodies = [(key, _notice(key)) for key in keys]
        work = iter(bodies)

        async def publisher() -> None:
            for routing_key, body in work:  # shared: each notice is published once
                await exchange.publish(
                    aio_pika.Message(
                        body,
                        content_type="application/json",
                        message_id=str(uuid.uuid4()),
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=routing_key,
                    mandatory=True,
                )

        started = time.perf_counter()
        await asyncio.gather(*(publisher() for _ in range(concurrency)))
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
    return {
        "messages": total,
        "queues": len(queue_names),
        "message_bytes": len(bodies[0][1]),
        "publishers": concurrency,
        "publish_seconds": round(published - started, 3),
        "publish_per_s": round(total / (published - started), 1),
        "seconds": round(seconds, 3),
        "messages_per_s": round(total / seconds, 1),
    }
