"""The RabbitMQ connection of a hub process: robust, retried with growing delays, watched for /readyz."""

from __future__ import annotations

import asyncio
import logging

import aio_pika
from aio_pika.abc import AbstractRobustConnection

from axis.config import mask_url
from axis.core.waits import wait_event
from axis.workers.worker import CLOSE_TIMEOUT, Worker

log = logging.getLogger("axis.broker")

_MIN_DELAY = 0.5
_MAX_DELAY = 15.0


class BrokerUnavailable(Exception):
    """RabbitMQ cannot be reached right now."""


class Broker(Worker):
    """Owns one robust aio-pika connection.

    The first connection is tried by the worker's supervisor with growing delays. After that,
    aio-pika's robust connection reconnects by itself at a fixed interval; a watcher stretches that
    interval while the broker stays away, so a long outage does not become a tight reconnect loop,
    and says once which dependency is missing. The watcher does not fail and retry: it waits on the
    connection's own state, which is why it is a plain loop inside `run()`.
    """

    name = "amqp-connect"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self._connection: AbstractRobustConnection | None = None
        self._connected_once = asyncio.Event()

    async def wait_ready(self, timeout: float) -> None:
        await asyncio.wait_for(self._connected_once.wait(), timeout)

    async def run(self) -> None:
        if self._connection is None:
            # A failure here is logged by the supervisor (event=worker_failed worker=amqp-connect)
            # and its text is what /readyz shows until the broker answers.
            self._connection = await aio_pika.connect_robust(
                self.url, reconnect_interval=_MIN_DELAY, timeout=10
            )
            self._connected_once.set()
            self.recovered()
            log.info("event=rabbitmq_connected url=%s", mask_url(self.url))
        await self._watch(self._connection)

    async def _watch(self, connection: AbstractRobustConnection) -> None:
        while not connection.is_closed:
            if connection.connected.is_set():
                await asyncio.sleep(0.5)
                continue
            log.warning("event=rabbitmq_lost url=%s", mask_url(self.url))
            delay = _MIN_DELAY
            while not connection.connected.is_set() and not connection.is_closed:
                connection.reconnect_interval = delay  # type: ignore[attr-defined]
                if not await wait_event(connection.connected, delay):
                    delay = min(delay * 2, _MAX_DELAY)
            connection.reconnect_interval = _MIN_DELAY  # type: ignore[attr-defined]
            log.info("event=rabbitmq_reconnected url=%s", mask_url(self.url))

    async def until_connected(self) -> None:
        """Return once the connection is up (at once when it is)."""
        await self._connected_once.wait()
        assert self._connection is not None
        await self._connection.connected.wait()

    @property
    def connection(self) -> AbstractRobustConnection:
        if self._connection is None or not self._connection.connected.is_set():
            raise BrokerUnavailable(self.last_error or "RabbitMQ is not connected")
        return self._connection

    @property
    def is_connected(self) -> bool:
        return self._connection is not None and self._connection.connected.is_set()

    async def ping(self, timeout: float = 3.0) -> None:
        """A round trip to the broker: open and close a channel."""
        connection = self.connection
        try:
            channel = await asyncio.wait_for(connection.channel(publisher_confirms=False), timeout)
            await channel.close()
        except (TimeoutError, OSError, aio_pika.exceptions.AMQPError, RuntimeError) as exc:
            raise BrokerUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        await super().close(timeout)
        if self._connection is not None:
            try:
                await asyncio.wait_for(self._connection.close(), 5.0)
            except (TimeoutError, aio_pika.exceptions.AMQPError, OSError) as exc:
                log.warning("event=rabbitmq_close_failed error=%r", f"{type(exc).__name__}: {exc}")
            self._connection = None
