"""Reliability of the axis: the hub killed, RabbitMQ and PostgreSQL restarted, two hubs at once.

Each test runs the hub as real processes (`python -m axis.cli serve`) over a RabbitMQ node and a
PostgreSQL cluster of the test run's own, sends pre-signed letters concurrently, breaks something
in the middle, and then counts: every letter that got a 202 reaches each recipient's inbox exactly
once; a letter that did not get a 202 is either absent or whole; PostgreSQL records each delivery,
its acknowledgement and its status 01 exactly once; no work is left pending; nobody had to step in.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable

import aiohttp
import asyncpg

import signing
from axis.core import audit_proof
from tests.e2e.conftest import SENDER, AxisRun, Letter, Sender
from tests.support.hub_process import HubProcess
from tests.support.waiting import wait_for
from tests.support.webhook import Webhook

log = logging.getLogger("tests.e2e")

PULL = ["000.00.00.H41", "000.00.00.H29"]
PUSH = "000.00.00.H35"


async def _pull_world(run: AxisRun) -> None:
    await run.register(SENDER)
    for organ in PULL:
        await run.register(organ)


async def _send_with_trouble(
    run: AxisRun,
    letters: list[Letter],
    urls: list[str],
    trouble: dict[int, Callable[[], Awaitable[None]]],
    concurrency: int = 24,
) -> Sender:
    """Send every letter; once `n` letters are answered, run trouble[n] while the load goes on.

    The letters past n (and those in flight) wait until trouble[n] has begun, so there is always
    load left to send while it lasts.
    """
    sender = run.sender(urls, concurrency)
    begun = {n: asyncio.Event() for n in trouble}
    for n, event in begun.items():
        sender.hold(n + concurrency, event)

    async def break_it() -> None:
        for n, action in sorted(trouble.items()):
            await wait_for(lambda n=n: sender.answered >= n, timeout=180)  # type: ignore[misc]
            log.info("trouble after %d letters (%d accepted)", sender.answered, sender.accepted)
            begun[n].set()
            await action()
            log.info("trouble over after %d letters", sender.answered)

    await asyncio.gather(sender.send(letters), break_it())
    log.info("answers during the load: %s", dict(sender.answers))
    # A dependency that is away is a 503 the client may retry, never a 500.
    assert "500" not in sender.answers, f"answers: {dict(sender.answers)}\n{run.logs()}"
    return sender


async def _finish_and_count(
    run: AxisRun, letters: list[Letter], hubs: list[HubProcess], *, ack_everywhere: bool = False
) -> None:
    """The checks every test ends with (see the module docstring)."""
    urls = [hub.url for hub in hubs]
    for hub in hubs:
        await hub.wait_ready(timeout=60)
    refused = [letter for letter in letters if not letter.accepted]
    stored = await run.assert_none_half_stored(letters)
    log.info(
        "accepted=%d not_accepted=%d of_which_stored_whole=%d",
        len(letters) - len(refused),
        len(refused),
        sum(1 for letter in refused if letter.edxml_id in stored),
    )
    # The sender's DMS tries again the letters it has no answer for: each is accepted now, and one
    # that was stored before its answer was lost is recognised, not stored twice.
    if refused:
        again = run.sender(urls, concurrency=8, insist=True)
        await again.send(refused)
        not_yet = [(r.number, r.status, r.answer) for r in refused if not r.accepted]
        assert not not_yet, f"letters refused once the trouble was over: {not_yet[:5]}"
        for letter in refused:
            if letter.edxml_id in stored:
                assert letter.repeated
                assert letter.document_id == str(stored[letter.edxml_id]["id"])
        await run.assert_none_half_stored(letters)

    expected = {letter.document_id for letter in letters if letter.document_id}
    assert len(expected) == len(letters)
    results = await asyncio.gather(
        *(
            run.recipient(organ).drain(urls, expected, ack_everywhere=ack_everywhere)
            for organ in PULL
        )
    )
    for got in results:
        assert got.appearances.keys() == expected, f"{got.organ_id} got letters never sent"
        assert got.once_each(), f"{got.organ_id} got letters more than once: {got.repeats()}"
        assert sorted(got.first_acks.values()) == [1] * len(expected)
    # What a recipient fetches is the very letter that was sent: those caught in the trouble, and
    # every tenth of the rest.
    sample = [r for r in letters if r in refused or r.number % 10 == 0]
    await run.recipient(PULL[0]).assert_fetches(urls[-1], sample)
    await run.settled()
    await run.assert_recorded_once(letters)


async def test_every_letter_that_got_202_is_delivered_once_after_the_hub_is_killed(
    axis_run: AxisRun,
) -> None:
    run = axis_run
    await _pull_world(run)
    hub = run.hub()
    await hub.start_ready()
    letters = run.letters(1000, PULL)

    async def kill_and_restart() -> None:
        hub.kill()
        await hub.start_ready()

    sender = await _send_with_trouble(run, letters, [hub.url], {300: kill_and_restart})
    assert hub.starts == 2
    assert sender.accepted >= 900, f"only {sender.accepted} accepted: {dict(sender.answers)}"
    await _finish_and_count(run, letters, [hub])


async def test_every_letter_that_got_202_is_delivered_once_after_rabbitmq_restarts_and_crashes(
    axis_run: AxisRun,
) -> None:
    run = axis_run
    await _pull_world(run)
    hub = run.hub()
    await hub.start_ready()
    letters = run.letters(400, PULL)

    async def restart_rabbitmq() -> None:
        await asyncio.to_thread(run.rabbit.restart)

    async def crash_rabbitmq() -> None:
        # SIGKILL of the Erlang VM: no goodbye to clients, the queues recover from their logs.
        await asyncio.to_thread(run.rabbit.restart, crash=True)

    await _send_with_trouble(run, letters, [hub.url], {100: restart_rabbitmq, 250: crash_rabbitmq})
    await _finish_and_count(run, letters, [hub])


async def test_every_letter_that_got_202_is_delivered_once_after_postgresql_restarts(
    axis_run: AxisRun,
) -> None:
    run = axis_run
    await _pull_world(run)
    hub = run.hub()
    await hub.start_ready()
    letters = run.letters(300, PULL)

    async def restart_postgresql() -> None:
        await asyncio.to_thread(run.postgres.restart, "fast")

    async def crash_postgresql() -> None:
        await asyncio.to_thread(run.postgres.restart, "immediate")

    await _send_with_trouble(
        run, letters, [hub.url], {100: restart_postgresql, 200: crash_postgresql}
    )
    await _finish_and_count(run, letters, [hub])


async def test_two_hubs_on_the_same_queues_record_each_delivery_once(axis_run: AxisRun) -> None:
    run = axis_run
    await _pull_world(run)
    first, second = run.hub("hub-a"), run.hub("hub-b")
    await first.start_ready()
    await second.start_ready()
    letters = run.letters(300, PULL)

    sender = run.sender([first.url, second.url], concurrency=24)
    await sender.send(letters)
    assert sender.accepted == len(letters), dict(sender.answers)
    # Each acknowledgement goes to both hubs at the same moment: they race to record it.
    await _finish_and_count(run, letters, [first, second], ack_everywhere=True)


async def test_a_webhook_down_for_a_while_gets_every_letter_in_order_across_a_hub_restart(
    axis_run: AxisRun,
) -> None:
    run = axis_run
    await run.register(SENDER)
    hook = Webhook()
    await hook.start()
    try:
        agency = await run.register(PUSH, webhook=hook.url)
        hook.token = agency.token
        hub = run.hub()
        await hub.start_ready()
        letters = run.letters(100, [PUSH])
        # One letter at a time, each sent again until it is accepted: the sending order is exact.
        sender = run.sender([hub.url], concurrency=1, insist=True)

        def arrived() -> list[str]:
            return [r.headers["X-Axis-Document-Id"] for r in hook.received]

        await sender.send(letters[:10])
        await wait_for(lambda: len(hook.received) == 10)

        hook.up = False
        await sender.send(letters[10:30])
        await wait_for(lambda: hook.refused >= 3)

        async def kill_and_restart_the_hub() -> None:
            await wait_for(lambda: sender.accepted >= 40)
            hub.kill()
            refused = hook.refused
            await hub.start_ready()
            # The restarted hub goes on trying the webhook where the killed one left off.
            await wait_for(lambda: hook.refused >= refused + 2, timeout=30)

        await asyncio.gather(sender.send(letters[30:60]), kill_and_restart_the_hub())

        async def webhook_back() -> None:
            await wait_for(lambda: sender.accepted >= 70)
            hook.up = True

        await asyncio.gather(sender.send(letters[60:]), webhook_back())

        order = [letter.document_id for letter in sender.order]
        assert order == [letter.document_id for letter in letters]
        await wait_for(lambda: len(hook.received) >= len(letters), timeout=90)
        assert arrived() == order, "the webhook got letters out of order or more than once"
        assert all(r.genuine for r in hook.received)
        assert hub.starts == 2
        await run.settled(push_too=True)
        await run.assert_recorded_once(letters)
    finally:
        await hook.stop()


async def test_a_hub_killed_while_sealing_status_01_seals_each_once_after_restart(
    axis_run: AxisRun,
) -> None:
    """Acknowledgements commit at once and leave their status 01 to the sealer: the hub is
    killed (SIGKILL) part way through the sealing, and once restarted it seals the rest, each
    status once, each one checkable offline with its batch seal."""
    run = axis_run
    await _pull_world(run)
    hub = run.hub()
    await hub.start_ready()
    letters = run.letters(400, PULL)
    sender = run.sender([hub.url], concurrency=16)
    await sender.send(letters)
    assert sender.accepted == len(letters), dict(sender.answers)
    await run.settled()
    total = len(letters) * len(PULL)

    conn = await asyncpg.connect(run.database_url)
    try:

        async def sealed() -> int:
            return int(
                await conn.fetchval("SELECT count(*) FROM arrivals WHERE status_id IS NOT NULL")
            )

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:

            async def ack_all(organ: str) -> int:
                headers = run.recipient(organ).headers
                async with session.get(
                    hub.url + "/v1/inbox", params={"limit": "500"}, headers=headers
                ) as r:
                    ids = [i["delivery_id"] for i in (await r.json())["items"]]
                async with session.post(
                    hub.url + "/v1/deliveries/ack", json={"ids": ids}, headers=headers
                ) as r:
                    assert r.status == 200, await r.text()
                    return int((await r.json())["acknowledged"])

            acked = await asyncio.gather(*(ack_all(organ) for organ in PULL))
        assert sum(acked) == total
        # Kill as soon as the sealer has committed a batch or more, but not all of them.
        await wait_for(sealed, timeout=60, interval=0.01)
        hub.kill()
        at_kill = await sealed()
        log.info("killed with %d of %d status 01 sealed", at_kill, total)
        assert 0 < at_kill < total, f"the kill came too late: {at_kill} of {total} sealed"
        await hub.start_ready()
        await run.settled()
        await run.assert_recorded_once(letters)
        statuses = await conn.fetch(
            """SELECT s.id, s.content_sha256 FROM documents s
                WHERE s.kind = 'status' AND s.status_code = '01'"""
        )
        assert len(statuses) == total
    finally:
        await conn.close()

    # Each status 01 reaches the sender once, and its bytes and batch seal check offline.
    cert = signing.load_certificates(str(run.tmp_path / "seal" / "seal.crt"))[0]
    headers = {"Authorization": f"Bearer {run.agencies[SENDER].token}"}
    seen: list[str] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        while True:
            async with session.get(
                hub.url + "/v1/inbox", params={"limit": "500", "inline": "1"}, headers=headers
            ) as r:
                items = (await r.json())["items"]
            if not items:
                break
            for item in items:
                async with session.get(
                    f"{hub.url}/v1/documents/{item['document_id']}/seal", headers=headers
                ) as r:
                    assert r.status == 200, await r.text()
                    seal = await r.json()
                package = base64.b64decode(item["package_base64"])
                result = audit_proof.check_status_seal(seal, package, cert)
                assert result.ok, result.message
                seen.append(item["document_id"])
            async with session.post(
                hub.url + "/v1/deliveries/ack",
                json={"ids": [i["delivery_id"] for i in items]},
                headers=headers,
            ) as r:
                assert r.status == 200
    assert len(seen) == len(set(seen)) == total
