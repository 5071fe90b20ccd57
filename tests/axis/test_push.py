"""Push agencies: letters POSTed to their webhook, signed, in order, retried, and dead-lettered."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.support.waiting import wait_for
from tests.support.webhook import Webhook
from tests.support.world import World


@pytest.fixture
async def webhook() -> AsyncIterator[Webhook]:
    hook = Webhook()
    await hook.start()
    yield hook
    await hook.stop()


async def test_a_push_agency_gets_the_letter_on_its_webhook_signed_with_its_token(
    client_for, hub_config, db: asyncpg.Connection, world: World, webhook: Webhook
) -> None:
    g22 = await world.register(db, "000.00.00.G22")
    h41 = await world.register(db, "000.00.00.H41", webhook=webhook.url)
    webhook.token = h41.token
    client = await client_for(hub_config)
    letter = world.letter(g22, [h41])
    body = await (await client.post("/v1/documents", data=letter, headers=g22.auth)).json()

    await wait_for(lambda: webhook.received)
    got = webhook.received[0]
    assert got.body == letter
    assert got.genuine
    assert got.headers["X-Axis-Document-Id"] == body["document_id"]
    assert got.headers["X-Axis-Delivery-Id"] == body["deliveries"][0]["delivery_id"]

    # A 2xx from the webhook counts as the acknowledgement: the sender hears "arrived".
    async def sender_status():
        resp = await client.get("/v1/inbox", headers=g22.auth)
        return [i for i in (await resp.json())["items"] if i["kind"] == "status"]

    statuses = await wait_for(sender_status)
    assert statuses[0]["status_code"] == "01"


async def test_a_webhook_that_is_down_for_a_while_gets_every_letter_in_order_once_back(
    client_for, hub_config, db: asyncpg.Connection, world: World, webhook: Webhook
) -> None:
    g22 = await world.register(db, "000.00.00.G22")
    h41 = await world.register(db, "000.00.00.H41", webhook=webhook.url)
    webhook.token = h41.token
    webhook.up = False
    client = await client_for(hub_config)
    sent = []
    for _ in range(5):
        body = await (
            await client.post("/v1/documents", data=world.letter(g22, [h41]), headers=g22.auth)
        ).json()
        sent.append(body["document_id"])
    await wait_for(lambda: webhook.refused >= 2)
    webhook.up = True
    await wait_for(lambda: len(webhook.received) >= 5, timeout=30)
    assert [r.headers["X-Axis-Document-Id"] for r in webhook.received] == sent
    assert all(r.genuine for r in webhook.received)


async def test_a_delivery_is_dead_lettered_after_the_last_try_and_listed_as_failed(
    client_for, hub_config, db: asyncpg.Connection, world: World, webhook: Webhook
) -> None:
    g22 = await world.register(db, "000.00.00.G22")
    h41 = await world.register(db, "000.00.00.H41", webhook=webhook.url)
    h29 = await world.register(db, "000.00.00.H29")
    webhook.up = False
    client = await client_for(hub_config)
    body = await (
        await client.post("/v1/documents", data=world.letter(g22, [h41, h29]), headers=g22.auth)
    ).json()

    async def failed():
        resp = await client.get("/v1/deliveries", params={"state": "failed"}, headers=g22.auth)
        return (await resp.json())["items"]

    items = await wait_for(failed, timeout=30)
    assert [i["recipient"] for i in items] == ["000.00.00.H41"]
    assert items[0]["document_id"] == body["document_id"]
    assert items[0]["attempts"] == hub_config.push_max_attempts
    # The sender learns that and since when pushes failed; the webhook's answer is the recipient's.
    assert items[0]["last_error"].startswith("push failing since ")
    own = await (
        await client.get(
            "/v1/deliveries", params={"role": "received", "state": "failed"}, headers=h41.auth
        )
    ).json()
    assert own["items"][0]["last_error"] == "webhook answered HTTP 503"
    # The pull recipient of the same letter was not held up by the dead webhook.
    inbox = await (await client.get("/v1/inbox", headers=h29.auth)).json()
    assert [i["document_id"] for i in inbox["items"]] == [body["document_id"]]


async def test_a_dead_webhook_does_not_delay_another_push_agency(
    client_for, hub_config, db: asyncpg.Connection, world: World, webhook: Webhook
) -> None:
    healthy = Webhook()
    await healthy.start()
    try:
        g22 = await world.register(db, "000.00.00.G22")
        dead = await world.register(db, "000.00.00.H41", webhook=webhook.url)
        alive = await world.register(db, "000.00.00.H29", webhook=healthy.url)
        healthy.token = alive.token
        webhook.up = False
        client = await client_for(hub_config)
        for _ in range(3):
            resp = await client.post(
                "/v1/documents", data=world.letter(g22, [dead, alive]), headers=g22.auth
            )
            assert resp.status == 202
        await wait_for(lambda: len(healthy.received) == 3, timeout=10)
        assert webhook.received == []
    finally:
        await healthy.stop()
