"""Fixtures for eCabinet: a database of each test's own, a running hub with meetings/ plugged in,
the Government Office's agency, and people signed in through the API."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from axis.config import Config
from meetings import people
from signing.devca import DevCA
from tests.support.services import unique_name
from tests.support.world import World

GOV_OFFICE = "000.00.00.G22"
PASSWORD = "mật-khẩu-đủ-dài-1"


async def axis(*args: str, env: dict[str, str], stdin: str = "") -> tuple[int, str, str]:
    """Run the `axis` command as a person would."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "axis.cli",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
    )
    out, err = await proc.communicate(stdin.encode())
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.fixture(scope="session")
def dev_ca(tmp_path_factory: pytest.TempPathFactory) -> DevCA:
    return DevCA.init(tmp_path_factory.mktemp("ca"), "Cabinet Test CA")


@pytest.fixture(scope="session")
def trust_dir(dev_ca: DevCA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("trust")
    (folder / "root.pem").write_bytes(dev_ca.root_path.read_bytes())
    return folder


@pytest.fixture
def world(dev_ca: DevCA, trust_dir: Path) -> World:
    """Agencies with certificates of the test CA; the Government Office is `world.agencies[GOV_OFFICE]`."""
    return World(dev_ca, trust_dir)


@pytest.fixture
async def db(test_database_url: str, world: World) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(test_database_url)
    try:
        await world.register(conn, GOV_OFFICE, "Văn phòng Chính phủ")
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def hub_config(test_database_url: str, amqp_url: str, trust_dir: Path, tmp_path: Path) -> Config:
    return Config.from_env(
        {
            "AXIS_DATABASE_URL": test_database_url,
            "AXIS_AMQP_URL": amqp_url,
            "AXIS_BLOB_URL": (tmp_path / "blobs").as_uri(),
            "AXIS_LISTEN": "127.0.0.1:0",
            "AXIS_LOG_FORMAT": "text",
            "AXIS_QUEUE_PREFIX": unique_name("t"),
            "AXIS_TRUST_DIR": str(trust_dir),
            "AXIS_SEAL_DIR": str(tmp_path / "seal"),
            "AXIS_CABINET_ORGAN": GOV_OFFICE,
            "AXIS_CHECK_PROCESSES": "0",  # in threads (see tests/conftest.py)
        }
    )


@dataclass
class Cabinet:
    """A running hub and helpers to make people and call the API as them."""

    client: TestClient  # type: ignore[type-arg]
    db: asyncpg.Connection
    config: Config
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    async def person(self, login: str, kind: str, **extra: Any) -> str:
        """Make a person (straight through meetings.people), sign them in, return their id."""
        made = await people.add(
            self.db,
            organ_id=GOV_OFFICE,
            login=login,
            full_name=extra.pop("full_name", login.title()),
            kind=kind,
            password=PASSWORD,
            **extra,
        )
        answer = await self.client.post(
            "/v1/cabinet/sessions", json={"login": login, "password": PASSWORD}
        )
        assert answer.status == 201, await answer.text()
        self.tokens[login] = (await answer.json())["token"]
        self.ids[login] = str(made.id)
        return str(made.id)

    def auth(self, login: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[login]}"}

    async def call(self, method: str, path: str, login: str, expect: int, **kwargs: Any) -> Any:
        answer = await self.client.request(method, path, headers=self.auth(login), **kwargs)
        text = await answer.text()
        assert answer.status == expect, f"{method} {path} as {login}: {answer.status} {text}"
        return await answer.json() if text and answer.content_type == "application/json" else text


@pytest.fixture
async def cabinet(
    db: asyncpg.Connection,
    hub_config: Config,
    client_for: Any,
) -> Cabinet:
    client = await client_for(hub_config)
    return Cabinet(client=client, db=db, config=hub_config)
