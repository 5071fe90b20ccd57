"""Per-run PostgreSQL databases and RabbitMQ vhosts, so two test runs on one machine never collide."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import urllib.parse
import uuid

import aio_pika
import asyncpg

from axis.config import Config
from axis.plugins import plugin_queues
from axis.workers.topology import Names
from storage.db import with_database

BASE_DATABASE_URL = os.environ.get(
    "AXIS_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BASE_AMQP_URL = os.environ.get("AXIS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


def unique_name(prefix: str = "axis_test") -> str:
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


def _rabbitmqctl(*args: str) -> None:
    exe = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    result = subprocess.run([exe, *args], capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {result.stderr.strip()}")


def create_vhost(name: str) -> str:
    """Create a vhost for this run and return the AMQP URL that points at it."""
    user = urllib.parse.urlsplit(BASE_AMQP_URL).username or "guest"
    _rabbitmqctl("add_vhost", name)
    _rabbitmqctl("set_permissions", "-p", name, user, ".*", ".*", ".*")
    parts = urllib.parse.urlsplit(BASE_AMQP_URL)
    return urllib.parse.urlunsplit(parts._replace(path="/" + urllib.parse.quote(name, safe="")))


def delete_vhost(name: str) -> None:
    _rabbitmqctl("delete_vhost", name)


async def delete_topology(cfg: Config) -> None:
    """Quorum queues are heavy for a small broker: drop this test's own rather than let them pile up."""
    # Straight to the real servers: a test may have pointed the app through a proxy it has cut.
    database = urllib.parse.urlsplit(cfg.database_url).path.lstrip("/")
    organs: list[str] = []
    with contextlib.suppress(OSError, asyncpg.PostgresError, TimeoutError):
        conn = await asyncpg.connect(with_database(BASE_DATABASE_URL, database), timeout=10)
        try:
            organs = [r["organ_id"] for r in await conn.fetch("SELECT organ_id FROM agencies")]
        finally:
            await conn.close()
    names = Names(cfg.queue_prefix)
    queues = [names.agency_queue(o) for o in organs]
    queues += [names.retry(i) for i in range(len(cfg.push_retry_delays))] + [names.dead]
    queues += plugin_queues(names.prefix)  # e.g. the eCabinet gateway's queue, when made
    # Bounded: a broker slowed down by parallel runs may take its time deleting quorum queues,
    # and a teardown that waits for it forever would stall the whole run (pytest-timeout: 300 s).
    with contextlib.suppress(TimeoutError, OSError, aio_pika.exceptions.AMQPError):
        async with asyncio.timeout(60):
            await _delete_queues_and_exchanges(cfg, names, queues)


async def _delete_queues_and_exchanges(cfg: Config, names: Names, queues: list[str]) -> None:
    connection = await aio_pika.connect(BASE_AMQP_URL, timeout=10)
    try:
        for queue in queues:
            channel = await connection.channel()
            with contextlib.suppress(aio_pika.exceptions.AMQPError):
                await channel.queue_delete(queue)
            with contextlib.suppress(aio_pika.exceptions.AMQPError):
                await channel.close()
        channel = await connection.channel()
        for exchange in [names.deliveries] + [
            names.retry(i) for i in range(len(cfg.push_retry_delays))
        ]:
            with contextlib.suppress(aio_pika.exceptions.AMQPError):
                await channel.exchange_delete(exchange)
    finally:
        await connection.close()
