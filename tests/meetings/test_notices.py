"""Notifications: a long-poll answers as soon as another hub process writes one, and each one
leaves exactly once through RabbitMQ (routing key cabinet.notify) for an e-mail/SMS gateway, even
when the broker was away while it was written."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import asyncpg
import pytest

from axis.config import Config
from tests.meetings.conftest import Cabinet

FIELDS = {"id", "kind", "at", "meeting_id", "consultation_id", "title_vi", "title_en", "details"}


async def _sent_meeting(cabinet: Cabinet) -> str:
    await cabinet.person("thuky", "secretariat")
    await cabinet.person("thutuong", "member", chair=True, title="Thủ tướng")
    await cabinet.person("botaichinh", "member", title="Bộ trưởng Bộ Tài chính")
    starts = (datetime.now(UTC) + timedelta(days=10)).isoformat()
    meeting = await cabinet.call(
        "POST", "/v1/meetings", "thuky", 201,
        json={"title": "Phiên họp tháng 6", "kind": "regular", "starts_at": starts,
              "place": "Hà Nội", "invitees": [cabinet.ids["thutuong"], cabinet.ids["botaichinh"]]},
    )  # fmt: skip
    item = await cabinet.call(
        "POST", f"/v1/meetings/{meeting['id']}/items", "thuky", 201, json={"title": "Đề án"}
    )
    stored = await cabinet.call("POST", "/v1/cabinet/files", "thuky", 201, data=b"%PDF-1.7 x")
    await cabinet.call(
        "POST", f"/v1/meetings/{meeting['id']}/items/{item['id']}/papers", "thuky", 201,
        json={"title": "Tờ trình", "file_sha256": stored["sha256"], "name": "a.pdf",
              "confidential": True},
    )  # fmt: skip
    return str(meeting["id"])


class Gateway:
    """A queue of the test's own bound to cabinet.notify, as an e-mail/SMS gateway would bind."""

    def __init__(self) -> None:
        self.messages: list[aio_pika.abc.AbstractIncomingMessage] = []
        self.arrived = asyncio.Event()

    async def bodies_after(self, count: int, settle: float = 1.5) -> list[dict[str, Any]]:
        async def enough() -> None:
            while len(self.messages) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(enough(), 30)
        await asyncio.sleep(settle)  # a repeat would show up by now
        return [json.loads(m.body) for m in self.messages]


@pytest.fixture
async def gateway(hub_config: Config, amqp_url: str) -> AsyncIterator[Gateway]:
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(
        f"{hub_config.queue_prefix}.deliveries", aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, routing_key="cabinet.notify")
    found = Gateway()

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        found.messages.append(message)
        found.arrived.set()
        await message.ack()

    await queue.consume(on_message)
    yield found
    await connection.close()


async def test_a_long_poll_answers_when_another_hub_process_sends_the_packet(
    cabinet: Cabinet, client_for: Any
) -> None:
    mid = await _sent_meeting(cabinet)
    other = await client_for(cabinet.config)  # a second hub process on the same database
    started = time.monotonic()
    polling = asyncio.create_task(
        other.get(
            "/v1/cabinet/notifications",
            params={"after": "0", "wait": "30"},
            headers=cabinet.auth("botaichinh"),
        )
    )
    await asyncio.sleep(1.0)
    assert not polling.done()  # nothing yet: it waits
    await cabinet.call("POST", f"/v1/meetings/{mid}/packets", "thuky", 201, json={})
    answer = await asyncio.wait_for(polling, 10)
    assert answer.status == 200
    items = (await answer.json())["items"]
    assert time.monotonic() - started < 10
    assert [i["kind"] for i in items] == ["packet_sent"] and items[0]["meeting_id"] == mid
    assert set(items[0]) == FIELDS and isinstance(items[0]["id"], int)
    # After the last id there is nothing; a short wait answers empty.
    again = await cabinet.call(
        "GET", f"/v1/cabinet/notifications?after={items[0]['id']}&wait=0.2", "botaichinh", 200
    )
    assert again == {"items": []}
    for bad in ("-1", "nan", "61", "soon"):
        refused = await cabinet.call(
            "GET", f"/v1/cabinet/notifications?wait={bad}", "botaichinh", 400
        )
        assert refused["error"]["where"] == "wait"


async def test_each_notification_leaves_once_for_the_gateway_with_its_fields(
    cabinet: Cabinet, gateway: Gateway
) -> None:
    mid = await _sent_meeting(cabinet)
    await cabinet.call("POST", f"/v1/meetings/{mid}/packets", "thuky", 201, json={})
    await cabinet.call("POST", f"/v1/meetings/{mid}/close", "thuky", 200)  # takes back the paper
    stored = await cabinet.db.fetch("SELECT id, person_id, kind FROM cabinet_notifications")
    assert sorted(r["kind"] for r in stored) == ["packet_sent"] * 2 + ["taken_back"] * 2
    bodies = await gateway.bodies_after(len(stored))
    assert sorted(b["id"] for b in bodies) == sorted(r["id"] for r in stored)  # each once
    for body in bodies:
        assert set(body) >= FIELDS and body["meeting_id"] == mid
        assert body["login"] in ("thutuong", "botaichinh") and body["person_id"] == str(
            next(r["person_id"] for r in stored if r["id"] == body["id"])
        )
        if body["kind"] == "taken_back":
            assert [set(p) for p in body["details"]["papers"]] == [{"paper_id", "sha256"}]
    assert all(
        m.message_id == f"cabinet-notification-{b['id']}"
        for m, b in zip(gateway.messages, bodies, strict=True)
    )
    assert await cabinet.db.fetchval("SELECT count(*) FROM cabinet_outbox") == 0


async def test_notifications_written_while_the_broker_is_away_leave_once_it_is_back(
    db: asyncpg.Connection, hub_config: Config, client_for: Any, gateway: Gateway
) -> None:
    # A hub whose RabbitMQ does not answer: the API still works, the notices wait in PostgreSQL.
    cut_off = replace(hub_config, amqp_url="amqp://guest:guest@127.0.0.1:9/")
    away = Cabinet(client=await client_for(cut_off), db=db, config=cut_off)
    mid = await _sent_meeting(away)
    await away.call("POST", f"/v1/meetings/{mid}/packets", "thuky", 201, json={})
    await asyncio.sleep(2.5)  # the cut-off relay has tried and failed
    waiting = await db.fetchval("SELECT count(*) FROM cabinet_outbox")
    assert waiting == 2 and gateway.messages == []
    await away.client.close()  # that process ends (as in a crash, its rows stay)

    await client_for(hub_config)  # a hub with the broker
    bodies = await gateway.bodies_after(2)
    assert sorted(b["kind"] for b in bodies) == ["packet_sent", "packet_sent"]
    assert len({b["id"] for b in bodies}) == 2
    assert await db.fetchval("SELECT count(*) FROM cabinet_outbox") == 0
