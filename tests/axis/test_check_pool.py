"""Packages checked in child processes (AXIS_CHECK_PROCESSES): a letter checked there is taken
as one checked in the hub's own process, a refusal comes back with the same code, message and
place, and a child that dies costs no letter."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
from typing import Any

import asyncpg
import pytest

from axis.config import Config
from tests.support.world import World, WorldAgency


@pytest.fixture
async def pair(db: asyncpg.Connection, world: World) -> tuple[WorldAgency, WorldAgency]:
    g22 = await world.register(db, "000.00.00.G22", "Văn phòng Chính phủ")
    h41 = await world.register(db, "000.00.00.H41", "UBND tỉnh Nghệ An")
    return g22, h41


def _children() -> list[multiprocessing.Process]:
    return [p for p in multiprocessing.active_children() if p.is_alive()]


async def _answers(client: Any, packages: list[bytes], auth: dict[str, str]) -> list[Any]:
    found = []
    for package in packages:
        resp = await client.post("/v1/documents", data=package, headers=auth)
        body = await resp.json()
        if resp.status == 202:  # ids and times are new on each hub
            body = {"status": 202, "signature": body.get("signature")}
        else:
            body = {"status": resp.status, **body}
        found.append(body)
    return found


def _tampered(package: bytes) -> bytes:
    """The letter's subject changed after it was signed."""
    return package.replace("Về việc".encode(), b"Ve viec", 1)


async def test_a_child_process_answers_every_letter_as_the_hub_s_own_process_would(
    client_for, hub_config: Config, pair, world: World
) -> None:
    g22, h41 = pair
    before = {p.pid for p in _children()}
    in_children = await client_for(dataclasses.replace(hub_config, check_processes=1))
    in_threads = await client_for(dataclasses.replace(hub_config, check_processes=0))
    good = world.letter(g22, [h41])
    cases = [
        good,
        _tampered(world.letter(g22, [h41])),
        b"<edXML><unclosed>",
        world.letter(h41, [g22]),  # From is not the caller
    ]

    via_children = await _answers(in_children, cases, g22.auth)
    new = [p for p in _children() if p.pid not in before]
    assert len(new) == 1  # the checks ran in the hub's one child
    via_threads = await _answers(in_threads, cases, g22.auth)

    assert [a["status"] for a in via_children] == [202, 403, 400, 403]
    assert via_children[1]["error"]["details"]["reason"] == "digest_mismatch"
    assert via_children[2]["error"]["details"]["line"] == 1
    assert via_children == via_threads


async def test_a_killed_child_process_costs_no_letter(
    client_for, hub_config: Config, pair, world: World, db: asyncpg.Connection
) -> None:
    g22, h41 = pair
    before = {p.pid for p in _children()}
    client = await client_for(dataclasses.replace(hub_config, check_processes=1))
    first = await client.post("/v1/documents", data=world.letter(g22, [h41]), headers=g22.auth)
    assert first.status == 202
    (child,) = [p for p in _children() if p.pid not in before]
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)

    for _ in range(3):
        resp = await client.post("/v1/documents", data=world.letter(g22, [h41]), headers=g22.auth)
        assert resp.status == 202
    assert await db.fetchval("SELECT count(*) FROM documents WHERE kind = 'letter'") == 4
    assert len([p for p in _children() if p.pid not in before and p.pid != child.pid]) == 1
