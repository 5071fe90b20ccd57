"""Fixtures for the hub: a database of each test's own, a development CA, and a running axis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from axis.config import Config
from signing.devca import DevCA
from tests.support.services import unique_name
from tests.support.world import World


@pytest.fixture(scope="session")
def dev_ca(tmp_path_factory: pytest.TempPathFactory) -> DevCA:
    return DevCA.init(tmp_path_factory.mktemp("ca"), "Axis Test CA")


@pytest.fixture(scope="session")
def trust_dir(dev_ca: DevCA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("trust")
    (folder / "root.pem").write_bytes(dev_ca.root_path.read_bytes())
    return folder


@pytest.fixture
def hub_config(test_database_url: str, amqp_url: str, trust_dir: Path, tmp_path: Path) -> Config:
    cfg = Config.from_env(
        {
            "AXIS_DATABASE_URL": test_database_url,
            "AXIS_AMQP_URL": amqp_url,
            "AXIS_BLOB_URL": (tmp_path / "blobs").as_uri(),
            "AXIS_LISTEN": "127.0.0.1:0",
            "AXIS_LOG_FORMAT": "text",
            "AXIS_QUEUE_PREFIX": unique_name("t"),
            "AXIS_TRUST_DIR": str(trust_dir),
            "AXIS_SEAL_DIR": str(tmp_path / "seal"),
            "AXIS_PUSH_RETRY_DELAYS": "0.3,0.6,1",
            "AXIS_PUSH_MAX_ATTEMPTS": "4",
            "AXIS_PUSH_TIMEOUT": "5",
            # In threads (see tests/conftest.py); tests/axis/test_check_pool.py runs processes.
            "AXIS_CHECK_PROCESSES": "0",
        }
    )
    return cfg


@pytest.fixture
async def db(test_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(test_database_url)
    yield conn
    await conn.close()


@pytest.fixture
def world(dev_ca: DevCA, trust_dir: Path) -> World:
    return World(dev_ca, trust_dir)


@pytest.fixture
def client_for(test_database_url: str, client_for):  # type: ignore[no-untyped-def]
    """The root fixture, set up after this test's database so the apps close before it is dropped."""
    return client_for
