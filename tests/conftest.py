"""Shared fixtures: a database and a RabbitMQ vhost of this run's own, and a running axis."""

from __future__ import annotations

import asyncio
import io
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from axis import plugins
from axis.config import Config
from storage import migrations
from storage.db import drop_database, ensure_database, with_database
from tests.support.services import BASE_AMQP_URL, BASE_DATABASE_URL, delete_topology, unique_name

CLOSE_SECONDS = 60


async def _fresh_database(name: str) -> str:
    url = with_database(BASE_DATABASE_URL, name)
    await ensure_database(url)
    conn = await asyncpg.connect(url)
    try:
        await migrations.apply(conn, plugins.migration_dirs())
    finally:
        await conn.close()
    return url


@pytest.fixture(scope="session")
def run_name() -> str:
    return unique_name()


@pytest.fixture(scope="session")
async def database_url(run_name: str) -> AsyncIterator[str]:
    """A migrated database that lives as long as this test run."""
    url = await _fresh_database(run_name)
    yield url
    await drop_database(url)


@pytest.fixture
async def test_database_url(database_url: str) -> AsyncIterator[str]:
    """A database of this test's own, copied from the run's migrated one (fast: a template copy)."""
    name = f"axis_t_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    template = database_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(with_database(BASE_DATABASE_URL, "postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await admin.close()
    url = with_database(BASE_DATABASE_URL, name)
    yield url
    await _stop_running()  # the apps on it close first
    await drop_database(url)


@pytest.fixture
async def empty_database_url() -> AsyncIterator[str]:
    """A database of its own, created but not migrated, dropped after the test."""
    url = with_database(BASE_DATABASE_URL, unique_name("axis_t"))
    await ensure_database(url)
    yield url
    await drop_database(url)


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """The broker the tests use. Runs and tests keep apart by name prefix (AXIS_QUEUE_PREFIX), and
    each test deletes the queues it made: vhost churn is slow and can stall a small broker."""
    return BASE_AMQP_URL


@pytest.fixture
def config(database_url: str, amqp_url: str, tmp_path: Path) -> Config:
    env = {
        "AXIS_DATABASE_URL": database_url,
        "AXIS_AMQP_URL": amqp_url,
        "AXIS_BLOB_URL": (tmp_path / "blobs").as_uri(),
        "AXIS_LISTEN": "127.0.0.1:0",
        "AXIS_LOG_FORMAT": "text",
        "AXIS_QUEUE_PREFIX": unique_name("t"),
        # Packages checked in threads: a child process per app would cost each test its start
        # (tests/axis/test_check_pool.py and the browser tests run the processes).
        "AXIS_CHECK_PROCESSES": "0",
    }
    return Config.from_env(env)


@pytest.fixture
async def client_for() -> AsyncIterator:  # type: ignore[type-arg]
    """Start the axis with a given Config and return an HTTP client to it."""
    from axis.adapters.bodies import SERVER_SETTINGS
    from axis.app import create_app  # imported here so pure tests need none of the service

    async def start(cfg: Config) -> TestClient:  # type: ignore[type-arg]
        started = _Started(cfg)
        _RUNNING.append(started)
        server = TestServer(create_app(cfg))
        # The settings the real server runs with (aiohttp takes them when the server starts).
        await server.start_server(**SERVER_SETTINGS)
        client = TestClient(server)
        await client.start_server()
        started.client = client
        return client

    yield start
    await _stop_running()


class _Started:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.client: TestClient | None = None  # type: ignore[type-arg]


#: The apps client_for started in this process and has not stopped yet. A test's own database
#: (test_database_url) stops them before it is dropped: pytest tears that fixture down first when
#: the test asked for client_for before it, and an app should not close on a database gone.
_RUNNING: list[_Started] = []


async def _stop_running() -> None:
    while _RUNNING:
        started = _RUNNING.pop(0)
        if started.client is not None:
            await _close_or_show_tasks(started.client)
        # Only once the app is closed, or it would declare them again.
        await delete_topology(started.config)


async def _close_or_show_tasks(client: TestClient) -> None:  # type: ignore[type-arg]
    """Closing an app is bounded: when it is not done within a minute, every task still running is
    shown with its stack in the test's report (pytest-timeout's dump shows only threads)."""
    closing = asyncio.ensure_future(client.close())
    done, _ = await asyncio.wait({closing}, timeout=CLOSE_SECONDS)
    if done:
        closing.result()
        return
    shown = io.StringIO()
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task():
            print(task, file=shown)
            task.print_stack(file=shown)
    closing.cancel()
    pytest.fail(
        f"the app did not close within {CLOSE_SECONDS} s; still running:\n{shown.getvalue()}"
    )


@pytest.fixture
async def client(client_for, config: Config) -> TestClient:  # type: ignore[no-untyped-def, type-arg]
    return await client_for(config)
