"""RabbitMQ topology of the axis, declared in one place and idempotently.

Messages are small notices (ids and routing facts), never a letter's bytes: PostgreSQL holds the
truth, the blob store the bytes. Each agency has one durable quorum queue bound to the deliveries
exchange with its organ id; a single active consumer per queue keeps one agency's deliveries in
order across all hub processes. Failed pushes wait in TTL queues that dead-letter back.
"""

from __future__ import annotations

from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue


@dataclass(frozen=True)
class Names:
    prefix: str

    @property
    def deliveries(self) -> str:
        return f"{self.prefix}.deliveries"

    def agency_queue(self, organ_id: str) -> str:
        return f"{self.prefix}.agency.{organ_id}"

    def retry(self, level: int) -> str:
        return f"{self.prefix}.wait.{level}"

    @property
    def dead(self) -> str:
        return f"{self.prefix}.dead"


async def declare_exchange(channel: AbstractChannel, names: Names) -> AbstractExchange:
    return await channel.declare_exchange(
        names.deliveries, aio_pika.ExchangeType.TOPIC, durable=True
    )


async def declare_agency_queue(
    channel: AbstractChannel, names: Names, organ_id: str
) -> AbstractQueue:
    exchange = await declare_exchange(channel, names)
    queue = await channel.declare_queue(
        names.agency_queue(organ_id),
        durable=True,
        arguments={"x-queue-type": "quorum", "x-single-active-consumer": True},
    )
    await queue.bind(exchange, routing_key=organ_id)
    return queue


async def declare_retry_queues(
    channel: AbstractChannel, names: Names, delays: tuple[float, ...]
) -> None:
    """One fanout exchange and TTL queue per delay; expired notices go back with their routing key."""
    await declare_exchange(channel, names)
    for level, delay in enumerate(delays):
        exchange = await channel.declare_exchange(
            names.retry(level), aio_pika.ExchangeType.FANOUT, durable=True
        )
        queue = await channel.declare_queue(
            names.retry(level),
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-message-ttl": int(delay * 1000),
                "x-dead-letter-exchange": names.deliveries,
                # At-most-once on purpose: RabbitMQ 3.10's at-least-once dead-lettering stops
                # working for the whole node once its supervisor gives up, and a retry notice is
                # only a nudge. PostgreSQL keeps each delivery's next attempt, and the sweeper in
                # axis/workers/dispatch/sweep.py drives any agency whose nudge went missing.
            },
        )
        await queue.bind(exchange)
    await channel.declare_queue(names.dead, durable=True, arguments={"x-queue-type": "quorum"})
