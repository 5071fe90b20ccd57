"""Pushes go only where the operator meant: never through a redirect, never to a loopback address
without --allow-private, and a sender sees that a recipient's pushes fail, not where they go."""

from __future__ import annotations

import json
import logging
import socket
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from axis.workers.dispatch import Pusher, push_headers
from axis.workers.dispatch.push import _PublicOnlyResolver
from tests.axis.test_cli import axis
from tests.support.waiting import wait_for
from tests.support.webhook import Webhook
from tests.support.world import World


@pytest.fixture
async def webhook() -> AsyncIterator[Webhook]:
    hook = Webhook()
    await hook.start()
    yield hook
    await hook.stop()


@pytest.fixture
async def pusher() -> AsyncIterator[Pusher]:
    p = Pusher(timeout=5)
    p.start()
    yield p
    await p.close()


def _row() -> dict[str, object]:
    return {
        "id": uuid.uuid4(),
        "document_id": uuid.uuid4(),
        "kind": "letter",
        "sender": "000.00.00.G22",
        "content_sha256": "0" * 64,
        "status_code": None,
    }


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# ---------------------------------------------------------------- redirects


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_webhook_answering_a_redirect_is_a_failed_attempt_and_is_not_followed(
    pusher: Pusher, webhook: Webhook, status: int
) -> None:
    webhook.redirect = (status, webhook.elsewhere)
    error = await pusher.post(
        webhook.url, b"<edXML/>", push_headers("ab" * 32, _row()), allow_private=True
    )
    assert error == f"webhook answered HTTP {status}: redirect to {webhook.elsewhere} refused"
    assert webhook.refused == 1
    assert webhook.followed == 0


async def test_a_relative_redirect_is_named_in_full_and_still_not_followed(
    pusher: Pusher, webhook: Webhook
) -> None:
    webhook.redirect = (302, "/elsewhere")
    error = await pusher.post(
        webhook.url, b"<edXML/>", push_headers("ab" * 32, _row()), allow_private=True
    )
    assert error is not None and f"redirect to {webhook.elsewhere} refused" in error
    assert webhook.followed == 0


async def test_a_redirecting_webhook_is_retried_then_dead_lettered_never_reaching_the_target(
    client_for, hub_config, db: asyncpg.Connection, world: World, webhook: Webhook
) -> None:
    g22 = await world.register(db, "000.00.00.G22")
    h41 = await world.register(db, "000.00.00.H41", webhook=webhook.url)
    webhook.redirect = (302, webhook.elsewhere)
    client = await client_for(hub_config)
    resp = await client.post("/v1/documents", data=world.letter(g22, [h41]), headers=g22.auth)
    assert resp.status == 202

    async def failed_for_recipient():
        got = await client.get(
            "/v1/deliveries", params={"role": "received", "state": "failed"}, headers=h41.auth
        )
        return (await got.json())["items"]

    items = await wait_for(failed_for_recipient, timeout=30)
    assert items[0]["attempts"] == hub_config.push_max_attempts
    assert items[0]["last_error"] == (
        f"webhook answered HTTP 302: redirect to {webhook.elsewhere} refused"
    )
    assert webhook.followed == 0
    assert webhook.received == []


# ---------------------------------------------------------------- private addresses at push time


async def test_a_push_to_a_loopback_address_without_allow_private_never_connects(
    pusher: Pusher, webhook: Webhook
) -> None:
    error = await pusher.post(
        webhook.url, b"<edXML/>", push_headers("ab" * 32, _row()), allow_private=False
    )
    assert error is not None and "loopback" in error and "--allow-private" in error
    assert webhook.refused == 0 and webhook.received == []


async def test_a_name_that_resolves_to_loopback_is_refused_at_push_time() -> None:
    class Answers:
        """Stands in for DNS: the name points wherever the test says, as a hostile DNS could."""

        def __init__(self, *addresses: str) -> None:
            self.addresses = addresses

        async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[dict]:
            return [
                {"hostname": host, "host": a, "port": port, "family": 0, "proto": 0, "flags": 0}
                for a in self.addresses
            ]

        async def close(self) -> None:
            pass

    resolver = _PublicOnlyResolver()
    resolver._inner = Answers("127.0.0.1", "169.254.169.254")  # type: ignore[assignment]
    with pytest.raises(OSError, match=r"dms.example.gov.vn \(127.0.0.1\) is a loopback"):
        await resolver.resolve("dms.example.gov.vn", 443)
    resolver._inner = Answers("127.0.0.1", "203.162.4.190")  # type: ignore[assignment]
    kept = await resolver.resolve("dms.example.gov.vn", 443)
    assert [k["host"] for k in kept] == ["203.162.4.190"]
    resolver._inner = Answers("10.20.30.40")  # type: ignore[assignment]
    assert [k["host"] for k in await resolver.resolve("dms.example.gov.vn", 443)] == ["10.20.30.40"]


# ---------------------------------------------------------------- who sees what


async def test_a_sender_sees_push_failing_since_and_the_attempt_but_not_the_recipients_host(
    client_for,
    hub_config,
    test_database_url: str,
    db: asyncpg.Connection,
    world: World,
) -> None:
    port = _closed_port()
    hook_url = f"http://127.0.0.1:{port}/axis"
    g22 = await world.register(db, "000.00.00.G22")
    h41 = await world.register(db, "000.00.00.H41", webhook=hook_url)
    client = await client_for(hub_config)
    sent = await (
        await client.post("/v1/documents", data=world.letter(g22, [h41]), headers=g22.auth)
    ).json()

    async def recipient_view():
        got = await client.get("/v1/deliveries", params={"role": "received"}, headers=h41.auth)
        items = (await got.json())["items"]
        return items if items and items[0]["attempts"] >= 1 else None

    # The recipient itself sees the detail of its own webhook's failure.
    own = (await wait_for(recipient_view, timeout=20))[0]
    assert str(port) in own["last_error"]

    sender_items = (
        await (await client.get("/v1/deliveries", params={"role": "sent"}, headers=g22.auth)).json()
    )["items"]
    shown = sender_items[0]["last_error"]
    assert shown.startswith("push failing since ")
    assert f", attempt {sender_items[0]['attempts']}" in shown
    assert str(port) not in shown and "127.0.0.1" not in shown

    trace = await (
        await client.get(f"/v1/documents/{sent['document_id']}/trace", headers=g22.auth)
    ).json()
    line = trace["recipients"][0]
    assert line["last_error"].startswith("push failing since ")
    assert str(port) not in json.dumps(trace) and "127.0.0.1" not in json.dumps(trace)

    # The operator sees everything.
    code, out, err = await axis(
        "agency", "show", "000.00.00.H41", "--json", env={"AXIS_DATABASE_URL": test_database_url}
    )
    assert code == 0, err
    push = json.loads(out)["push"]
    # Still retrying, or already given up on (the test's retry delays are short).
    assert push["waiting"] + push["failed"] == 1
    detail = push["failing"] or push["last_failed"]
    assert detail["attempts"] >= 1
    assert str(port) in detail["last_error"]


# ---------------------------------------------------------------- registration


async def _agency_count(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT count(*) FROM agencies"))


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://dms.nghean.gov.vn/axis"])
async def test_agency_add_refuses_a_webhook_that_is_not_http_and_registers_nothing(
    test_database_url: str, db: asyncpg.Connection, url: str
) -> None:
    env = {"AXIS_DATABASE_URL": test_database_url}
    code, _, err = await axis(
        "agency", "add", "--organ", "000.00.00.H41", "--name", "Nghệ An", "--webhook", url, env=env
    )
    assert code == 1
    assert "webhook must be an http or https URL" in err and url in err
    assert await _agency_count(db) == 0


async def test_set_webhook_refuses_ftp_and_keeps_the_agency_as_it_was(
    test_database_url: str, db: asyncpg.Connection, world: World
) -> None:
    await world.register(db, "000.00.00.H41")
    env = {"AXIS_DATABASE_URL": test_database_url}
    code, _, err = await axis(
        "agency", "set-webhook", "000.00.00.H41", "ftp://dms.nghean.gov.vn/axis", env=env
    )
    assert code == 1 and "http or https" in err
    row = await db.fetchrow(
        "SELECT delivery_mode, webhook_url FROM agencies WHERE organ_id = '000.00.00.H41'"
    )
    assert dict(row) == {"delivery_mode": "pull", "webhook_url": None}


async def test_a_loopback_webhook_needs_allow_private_at_add_and_at_set_webhook(
    test_database_url: str, db: asyncpg.Connection
) -> None:
    env = {"AXIS_DATABASE_URL": test_database_url}
    url = "http://127.0.0.1:8080/axis"
    add = ("agency", "add", "--organ", "000.00.00.H41", "--name", "Nghệ An", "--webhook", url)
    code, _, err = await axis(*add, env=env)
    assert code == 1
    assert "127.0.0.1 is a loopback address" in err and "--allow-private" in err
    assert await _agency_count(db) == 0

    code, out, err = await axis(*add, "--allow-private", "--json", env=env)
    assert code == 0, err
    shown = json.loads(out)
    assert shown["delivery"] == "push" and shown["webhook_allow_private"] is True

    # Each change of webhook asks again: without the flag, a local address is refused.
    code, _, err = await axis(
        "agency", "set-webhook", "000.00.00.H41", "http://localhost:9000/axis", env=env
    )
    assert code == 1 and "localhost is a loopback address" in err
    code, out, err = await axis(
        "agency", "set-webhook", "000.00.00.H41", "https://dms.nghean.gov.vn/axis", env=env
    )
    assert code == 0, err
    row = await db.fetchrow(
        "SELECT webhook_url, webhook_allow_private FROM agencies WHERE organ_id = '000.00.00.H41'"
    )
    assert dict(row) == {
        "webhook_url": "https://dms.nghean.gov.vn/axis",
        "webhook_allow_private": False,
    }


# ---------------------------------------------------------------- malformed notices


async def test_a_malformed_notice_is_dropped_with_one_log_line_and_the_queue_moves_on(
    client_for,
    hub_config,
    db: asyncpg.Connection,
    world: World,
    webhook: Webhook,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import aio_pika

    from axis.workers.topology import Names, declare_agency_queue

    caplog.set_level(logging.INFO, logger="axis.dispatch")
    g22 = await world.register(db, "000.00.00.G22")
    # A push agency: its letters' notices travel its queue (a pull agency's need no notice).
    h41 = await world.register(db, "000.00.00.H41", webhook=webhook.url)
    webhook.token = h41.token
    client = await client_for(hub_config)
    names = Names(hub_config.queue_prefix)
    connection = await aio_pika.connect(hub_config.amqp_url)
    try:
        channel = await connection.channel()
        await declare_agency_queue(channel, names, h41.organ_id)
        await channel.default_exchange.publish(
            aio_pika.Message(b"{not a notice"), routing_key=names.agency_queue(h41.organ_id)
        )
    finally:
        await connection.close()
    # A letter's notice behind it in the same queue still arrives.
    sent = await (
        await client.post("/v1/documents", data=world.letter(g22, [h41]), headers=g22.auth)
    ).json()
    await wait_for(lambda: len(webhook.received) == 1)
    assert webhook.received[0].headers["X-Axis-Document-Id"] == sent["document_id"]
    bad = [r.getMessage() for r in caplog.records if "event=bad_notice" in r.getMessage()]
    assert len(bad) == 1 and "not JSON" in bad[0]
