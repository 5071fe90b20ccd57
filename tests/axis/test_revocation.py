"""A hub never answers from memory for an agency that changed: the cache of tokens is dropped on
the change's notice, and a change made while the hub could not hear notices is honoured once it
hears again. (Two real hub processes and the real CLI: tests/e2e/test_revocation.py.)"""

from __future__ import annotations

import dataclasses
import datetime as dt

import asyncpg

from axis.core import agencies
from axis.core.agencies import Agency
from axis.hub import TokenCache
from axis.workers.notify import APPLICATION_NAME
from tests.support.waiting import wait_for
from tests.support.world import World

H41 = "000.00.00.H41"


def _agency(organ_id: str = H41) -> Agency:
    return Agency(
        organ_id=organ_id,
        name="UBND tỉnh Nghệ An",
        delivery_mode="pull",
        webhook_url=None,
        webhook_allow_private=False,
        signature_policy="strict",
        active=True,
        token_hash="0" * 64,
        created_at=dt.datetime.now(dt.UTC),
    )


def test_a_lookup_that_began_before_a_change_is_not_kept_after_it() -> None:
    cache = TokenCache(60)
    cache.agency_changed("*")  # the LISTEN connection is up
    generation = cache.generation  # a request starts reading the agency from the database...
    cache.agency_changed(H41)  # ...the agency is disabled meanwhile...
    cache.put("token", _agency(), generation)  # ...and what it read is now stale
    assert cache.get("token") is None
    cache.put("token", _agency(), cache.generation)
    assert cache.get("token") is not None
    cache.agency_changed("000.00.00.H29")  # another agency's change leaves it be
    assert cache.get("token") is not None
    cache.agency_changed(H41)
    assert cache.get("token") is None


def test_nothing_is_served_from_memory_while_the_hub_cannot_hear_changes() -> None:
    cache = TokenCache(60)
    cache.put("token", _agency(), cache.generation)
    assert cache.get("token") is None  # not listening yet: nothing is kept
    cache.agency_changed("*")
    cache.put("token", _agency(), cache.generation)
    assert cache.get("token") is not None
    cache.listen_lost()
    assert cache.get("token") is None
    cache.put("token", _agency(), cache.generation)
    assert cache.get("token") is None and len(cache) == 0


def test_a_recipient_s_state_is_kept_only_while_nothing_changed_it() -> None:
    cache = TokenCache(60)
    cache.put_active({H41: True}, cache.generation)
    assert cache.active(H41) is None  # not listening yet: nothing is kept
    cache.agency_changed("*")
    generation = cache.generation  # a letter's recipients are being read...
    cache.agency_changed(H41)  # ...one of them is disabled meanwhile
    cache.put_active({H41: True}, generation)
    assert cache.active(H41) is None
    cache.put_active({H41: True, "000.00.00.H29": False}, cache.generation)
    assert cache.active(H41) is True and cache.active("000.00.00.H29") is False
    assert cache.active("000.00.00.A99") is None  # never registered: asked again each time
    cache.agency_changed(H41)
    assert cache.active(H41) is None and cache.active("000.00.00.H29") is False
    cache.listen_lost()
    assert cache.active("000.00.00.H29") is None


async def test_an_agency_disabled_while_the_hubs_listen_connection_was_down_is_refused(
    hub_config, client_for, db: asyncpg.Connection, world: World
) -> None:
    client = await client_for(dataclasses.replace(hub_config, token_cache_seconds=60.0))
    h41 = await world.register(db, H41, "UBND tỉnh Nghệ An")

    async def listening() -> list[int]:
        rows = await db.fetch(
            """SELECT pid FROM pg_stat_activity
                WHERE datname = current_database() AND application_name = $1""",
            APPLICATION_NAME,
        )
        return [r["pid"] for r in rows]

    pids = await wait_for(listening)
    for _ in range(3):  # the token is now in the hub's memory, for 60 s
        assert (await client.get("/v1/agencies", headers=h41.auth)).status == 200
    # The hub's LISTEN connection dies; meanwhile the agency is disabled and no notice is sent.
    await db.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", pids)
    await db.execute("UPDATE agencies SET active = false WHERE organ_id = $1", H41)

    async def refused() -> bool:
        resp = await client.get("/v1/agencies", headers=h41.auth)
        assert resp.status in (200, 401)
        return resp.status == 401

    await wait_for(refused, timeout=5)
    assert any(pid not in pids for pid in await wait_for(listening))


async def test_a_recipient_disabled_elsewhere_is_refused_for_the_next_letter(
    hub_config, client_for, db: asyncpg.Connection, world: World
) -> None:
    client = await client_for(dataclasses.replace(hub_config, token_cache_seconds=60.0))
    g22 = await world.register(db, "000.00.00.G22", "Văn phòng Chính phủ")
    await world.register(db, H41, "UBND tỉnh Nghệ An")
    for _ in range(2):  # H41 is now known to be active in the hub's memory, for 60 s
        resp = await client.post("/v1/documents", data=world.letter(g22, [H41]), headers=g22.auth)
        assert resp.status == 202
    # Disabled by another process (the CLI): its notice reaches the hub when it commits.
    await agencies.set_active(db, H41, False)

    async def refused() -> bool:
        resp = await client.post("/v1/documents", data=world.letter(g22, [H41]), headers=g22.auth)
        assert resp.status in (202, 422)
        return resp.status == 422

    await wait_for(refused, timeout=5)
