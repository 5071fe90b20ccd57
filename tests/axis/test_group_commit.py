"""Group commit: letters sent at the same moment are committed together, each answered only once
committed, and one refused letter never fails the letters committed beside it."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import asyncpg
import pytest

from axis.adapters.api import HUB
from axis.core import ledger
from axis.core.ledger.batch import LetterBatcher, SameLetterInBatch
from storage.db import Database
from tests.support.ledger_rows import new_letter
from tests.support.waiting import wait_for

G22, H41, H29 = "000.00.00.G22", "000.00.00.H41", "000.00.00.H29"


def _new(recipients: list[str], *, edxml_id: str | None = None) -> ledger.NewLetter:
    """A small letter (its bytes kept with its rows) with no attachment."""
    return new_letter(
        recipients,
        edxml_id=edxml_id,
        subject="Về việc thử gộp cam kết",
        attachment=False,
        inline=True,
    )


@pytest.fixture
async def batcher(test_database_url: str, db: asyncpg.Connection, world):  # type: ignore[no-untyped-def]
    for organ in (G22, H41, H29):
        await world.register(db, organ, with_cert=False)
    database = Database(test_database_url)
    await database.start(wait=True)
    yield LetterBatcher(database)
    await database.close()


async def _stored(db: asyncpg.Connection) -> set[uuid.UUID]:
    return {r["id"] for r in await db.fetch("SELECT id FROM documents")}


async def test_letters_sent_together_share_commits_and_each_is_stored(batcher, db) -> None:
    letters = [_new([H41, H29]) for _ in range(40)]
    await asyncio.gather(*(batcher.insert(letter) for letter in letters))
    assert await _stored(db) == {letter.id for letter in letters}
    assert await db.fetchval("SELECT count(*) FROM deliveries") == 80
    assert await db.fetchval("SELECT count(*) FROM stored_bytes") == 40
    # Fewer transactions than letters: the ones that queued behind a commit went in together.
    commits = await db.fetchval(
        "SELECT count(DISTINCT xmin::text) FROM documents WHERE id = ANY($1::uuid[])",
        [letter.id for letter in letters],
    )
    assert commits < len(letters)


async def test_one_refused_letter_never_fails_the_letters_beside_it(batcher, db) -> None:
    good = [_new([H41]) for _ in range(10)]
    bad = _new(["000.00.00.A99"])  # an agency that does not exist: its delivery is refused
    results = await asyncio.gather(
        *(batcher.insert(letter) for letter in [*good[:5], bad, *good[5:]]),
        return_exceptions=True,
    )
    assert isinstance(results[5], asyncpg.ForeignKeyViolationError)
    assert [r for n, r in enumerate(results) if n != 5] == [None] * 10
    assert await _stored(db) == {letter.id for letter in good}
    # Nothing of the refused letter is left, its audit entries included.
    assert (
        await db.fetchval("SELECT count(*) FROM audit_events WHERE document_id = $1", bad.id) == 0
    )


async def test_the_same_letter_twice_in_one_batch_is_written_once(batcher, db) -> None:
    first = _new([H41], edxml_id="000.00.00.G22,2026/11/23,15/VPCP")
    twin = dataclasses.replace(_new([H41]), edxml_document_id=first.edxml_document_id)
    others = [_new([H29]) for _ in range(5)]
    results = await asyncio.gather(
        *(batcher.insert(letter) for letter in [*others, first, twin]), return_exceptions=True
    )
    assert results[:6] == [None] * 6
    # The twin learns of it only once the first is committed, and answers as a repeat does.
    assert isinstance(results[6], SameLetterInBatch | asyncpg.UniqueViolationError)
    assert await _stored(db) == {letter.id for letter in [*others, first]}


async def test_an_identical_letter_sent_at_once_from_many_requests_is_accepted_once(
    client_for, hub_config, world, db
) -> None:
    g22 = await world.register(db, G22)
    h41 = await world.register(db, H41)
    client = await client_for(hub_config)
    letter = world.letter(g22, [h41])
    others = [world.letter(g22, [h41]) for _ in range(6)]
    answers = await asyncio.gather(
        *(
            client.post("/v1/documents", data=body, headers=g22.auth)
            for body in [letter, *others, letter, letter]
        )
    )
    assert [a.status for a in answers] == [202] * 9
    same = [await answers[n].json() for n in (0, 7, 8)]
    assert same[0]["document_id"] == same[1]["document_id"] == same[2]["document_id"]
    assert await db.fetchval("SELECT count(*) FROM documents") == 7
    assert await db.fetchval("SELECT count(*) FROM deliveries") == 7


async def test_a_long_poll_on_another_hub_wakes_as_soon_as_the_letter_commits(
    client_for, hub_config, world, db
) -> None:
    g22 = await world.register(db, G22)
    h41 = await world.register(db, H41)
    one = await client_for(hub_config)
    two = await client_for(hub_config)  # a second hub process on the same database
    hubs = [client.server.app[HUB] for client in (one, two)]
    # Both hubs hear the others' wake-ups before the long-poll starts (LISTEN connections up).
    await wait_for(lambda: all(hub.token_cache.listening for hub in hubs))
    loop = asyncio.get_running_loop()

    async def long_poll() -> tuple[float, list[dict[str, object]]]:
        resp = await two.get("/v1/inbox", params={"wait": "50"}, headers=h41.auth)
        assert resp.status == 200
        return loop.time(), (await resp.json())["items"]

    waiting = asyncio.create_task(long_poll())
    # The long-poll is parked on hub two before the letter is sent to hub one.
    await wait_for(lambda: hubs[1].inbox.waiting(H41) == 1)
    sent = await one.post("/v1/documents", data=world.letter(g22, [h41]), headers=g22.auth)
    assert sent.status == 202
    committed = loop.time()
    answered, items = await waiting
    assert [i["document_id"] for i in items] == [(await sent.json())["document_id"]]
    # Woken by hub one's wake-up after its commit, not by the end of the 50 s wait.
    assert answered - committed < 25
