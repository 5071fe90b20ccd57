"""Overdue: letters not acknowledged in time, or past their DueDate without 06, are flagged once."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace

import pytest

from axis.workers.overdue import OverdueWatch
from tests.support.waiting import wait_for
from tests.support.world import World


async def _overdue(client, agency) -> list[dict]:
    resp = await client.get("/v1/deliveries", params={"state": "overdue"}, headers=agency.auth)
    assert resp.status == 200
    return (await resp.json())["items"]


async def test_an_unacknowledged_delivery_becomes_overdue_and_is_reported_once(
    client_for, hub_config, db, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    g22 = await world.register(db, "000.00.00.G22")
    h41 = await world.register(db, "000.00.00.H41")
    h29 = await world.register(db, "000.00.00.H29")
    cfg = replace(hub_config, ack_overdue_seconds=1.0)
    client = await client_for(cfg)
    sent = await (
        await client.post("/v1/documents", data=world.letter(g22, [h41, h29]), headers=g22.auth)
    ).json()
    await wait_for(lambda: client.get("/v1/inbox", headers=h29.auth))
    ack_id = next(d["delivery_id"] for d in sent["deliveries"] if d["recipient"] == h29.organ_id)

    async def h29_available():
        items = (await (await client.get("/v1/inbox", headers=h29.auth)).json())["items"]
        return items

    await wait_for(h29_available)
    assert (await client.post(f"/v1/deliveries/{ack_id}/ack", headers=h29.auth)).status == 200

    items = await wait_for(lambda: _overdue(client, g22), timeout=10)
    assert [i["recipient"] for i in items] == ["000.00.00.H41"]
    assert items[0]["overdue"] is True

    # The watch reports each overdue delivery once (a log event and the metric).
    from axis.adapters.api import HUB

    hub = client.server.app[HUB]
    with caplog.at_level(logging.WARNING, logger="axis.overdue"):
        first = await OverdueWatch(hub).check_once()
        second = await OverdueWatch(hub).check_once()
    reported = [
        r for r in caplog.records if r.name == "axis.overdue" and "event=overdue " in str(r.msg)
    ]
    assert first + second <= 1 and len(reported) <= 1
    assert (
        await db.fetchval("SELECT count(*) FROM deliveries WHERE overdue_logged_at IS NOT NULL")
        == 1
    )


async def test_a_letter_past_its_due_date_without_done_is_overdue(
    client_for, hub_config, db, world: World
) -> None:
    g22 = await world.register(db, "000.00.00.G22")
    h41 = await world.register(db, "000.00.00.H41")
    client = await client_for(hub_config)
    letter = world.letter(g22, [h41])
    sent = await (await client.post("/v1/documents", data=letter, headers=g22.auth)).json()
    assert await _overdue(client, g22) == []
    # The letter's DueDate passes (moved back in the database rather than waiting days: on the
    # letter and on its deliveries, which carry a copy for the overdue watch's index).
    past = dt.date.today() - dt.timedelta(days=2)
    await db.execute(
        "UPDATE documents SET due_date = $1 WHERE id = $2::uuid", past, sent["document_id"]
    )
    await db.execute(
        "UPDATE deliveries SET due_date = $1 WHERE document_id = $2::uuid",
        past,
        sent["document_id"],
    )
    assert [i["document_id"] for i in await _overdue(client, g22)] == [sent["document_id"]]
    done = await client.post(
        f"/v1/documents/{sent['document_id']}/status",
        data=world.status(h41, letter, "06"),
        headers=h41.auth,
    )
    assert done.status == 202
    assert await _overdue(client, g22) == []
