"""A letter's path through /v1: send, route, list, fetch, acknowledge, and status 01 back."""

from __future__ import annotations

import asyncpg

from tests.support.waiting import wait_for
from tests.support.world import World


async def test_a_pull_recipient_receives_a_letter_and_the_sender_learns_it_arrived(
    hub_config, client_for, db: asyncpg.Connection, world: World
) -> None:
    g22 = await world.register(db, "000.00.00.G22", "Văn phòng Chính phủ")
    h41 = await world.register(db, "000.00.00.H41", "UBND tỉnh Nghệ An")
    client = await client_for(hub_config)
    letter = world.letter(g22, [h41], attachments=[("quyet-dinh.pdf", b"%PDF-1.7 noi dung")])

    sent = await client.post("/v1/documents", data=letter, headers=g22.auth)
    assert sent.status == 202, await sent.text()
    body = await sent.json()
    assert [d["recipient"] for d in body["deliveries"]] == ["000.00.00.H41"]

    async def inbox_of(agency, wait="5"):
        resp = await client.get("/v1/inbox", params={"wait": wait}, headers=agency.auth)
        assert resp.status == 200
        return (await resp.json())["items"]

    items = await wait_for(lambda: inbox_of(h41))
    assert items[0]["document_id"] == body["document_id"]
    assert items[0]["sender"] == "000.00.00.G22"

    fetched = await client.get(f"/v1/documents/{body['document_id']}", headers=h41.auth)
    assert fetched.status == 200
    assert await fetched.read() == letter

    attachment = await client.get(
        f"/v1/documents/{body['document_id']}/attachments/1", headers=h41.auth
    )
    assert await attachment.read() == b"%PDF-1.7 noi dung"

    acked = await client.post(f"/v1/deliveries/{items[0]['delivery_id']}/ack", headers=h41.auth)
    assert acked.status == 200, await acked.text()
    assert await inbox_of(h41, wait="0") == []

    statuses = await wait_for(lambda: inbox_of(g22))
    assert statuses[0]["kind"] == "status"
    assert statuses[0]["status_code"] == "01"
    assert statuses[0]["responds_to"] == body["document_id"]


async def test_a_pull_delivery_whose_notice_was_lost_still_reaches_the_inbox(
    hub_config, client_for, db: asyncpg.Connection, world: World
) -> None:
    g22 = await world.register(db, "000.00.00.G22")
    h41 = await world.register(db, "000.00.00.H41")
    client = await client_for(hub_config)
    sent = await (
        await client.post("/v1/documents", data=world.letter(g22, [h41]), headers=g22.auth)
    ).json()

    async def inbox():
        resp = await client.get("/v1/inbox", headers=h41.auth)
        return (await resp.json())["items"]

    await wait_for(inbox)
    # As if RabbitMQ had dropped the notice: relayed long ago, never made available.
    await db.execute(
        """UPDATE deliveries SET state = 'queued', available_at = NULL, created_at = now() - interval '2 minutes'
            WHERE document_id = $1::uuid""",
        sent["document_id"],
    )
    assert await inbox() == []
    items = await wait_for(inbox, timeout=30)
    assert items[0]["document_id"] == sent["document_id"]
