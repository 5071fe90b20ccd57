"""The ledger's rules, called directly on a real PostgreSQL connection: each delivery transition
happens once and leaves its own audit entry, statuses only move forward, overdue is flagged once,
and only a letter's sender and recipients may see it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from axis.core import ledger
from axis.core.ids import uuid7
from axis.core.ledger.rules import is_overdue, transition_error
from tests.support.ledger_rows import new_letter
from tests.support.world import World

G22, H41, H29, X99 = "000.00.00.G22", "000.00.00.H41", "000.00.00.H29", "000.00.00.X99"
#: An agency that takes its letters by webhook (the others pull them from their inbox).
P77 = "000.00.00.P77"


@pytest.fixture
async def agencies(db: asyncpg.Connection, world: World) -> None:
    for organ in (G22, H41, H29, X99):
        await world.register(db, organ, with_cert=False)
    await world.register(db, P77, webhook="http://127.0.0.1:9/hook", with_cert=False)


async def _letter(
    db: asyncpg.Connection,
    recipients: list[str],
    *,
    sender: str = G22,
    due: dt.date | None = None,
) -> tuple[uuid.UUID, dict[str, uuid.UUID]]:
    letter = new_letter(recipients, sender=sender, due=due)
    async with db.transaction():
        await ledger.insert_letter(db, letter)
    return letter.id, {d.recipient: d.delivery_id for d in letter.deliveries}


async def _events(db: asyncpg.Connection, delivery_id: uuid.UUID) -> list[str]:
    rows = await db.fetch(
        "SELECT event FROM audit_events WHERE delivery_id = $1 ORDER BY id", delivery_id
    )
    return [r["event"] for r in rows]


async def test_a_letter_is_recorded_available_to_pull_agencies_and_relayed_to_push_ones(
    db, agencies
) -> None:
    letter_id, deliveries = await _letter(db, [H41, P77])
    # A pull agency's delivery is in its inbox by the commit that recorded the letter.
    assert [i.delivery_id for i in await ledger.inbox(db, [H41], limit=10)] == [deliveries[H41]]
    assert await _events(db, deliveries[H41]) == ["delivered"]
    # A push agency's waits for the relay and the dispatcher, in sending order.
    outbox = await db.fetch("SELECT delivery_id FROM outbox")
    assert [r["delivery_id"] for r in outbox] == [deliveries[P77]]
    item = await ledger.delivery(db, deliveries[P77])
    assert item is not None and item.state == "queued"
    assert await _events(db, deliveries[P77]) == []
    events = await db.fetch(
        "SELECT event FROM audit_events WHERE document_id = $1 ORDER BY id", letter_id
    )
    assert [r["event"] for r in events] == ["accepted", "delivered"]
    [attachment] = await ledger.attachments(db, letter_id)
    assert attachment.name == "to-trinh.pdf" and attachment.position == 1
    assert (await ledger.attachment(db, letter_id, "cid:cid-1")) == attachment


async def test_letters_written_together_each_get_their_own_rows_in_order(db, agencies) -> None:
    letters = [new_letter([H41, P77]), new_letter([H29]), *(new_letter([H41]) for _ in range(3))]
    async with db.transaction():
        await ledger.insert_letters(db, letters)
    accepted = await db.fetch(
        "SELECT document_id FROM audit_events WHERE event = 'accepted' ORDER BY id"
    )
    assert [r["document_id"] for r in accepted] == [letter.id for letter in letters]
    inbox = await ledger.inbox(db, [H41], limit=10)
    assert [i.document_id for i in inbox] == [letters[0].id, *(x.id for x in letters[2:])]
    outbox = await db.fetch("SELECT delivery_id FROM outbox")
    assert [r["delivery_id"] for r in outbox] == [letters[0].deliveries[1].delivery_id]
    attachments = await db.fetchval("SELECT count(*) FROM document_attachments")
    assert attachments == 5


async def test_a_letter_already_stored_refuses_the_set_and_nothing_of_it_is_written(
    db, agencies
) -> None:
    stored = new_letter([H41])
    async with db.transaction():
        await ledger.insert_letter(db, stored)
    same_identity = dataclasses.replace(
        new_letter([H29]), edxml_document_id=stored.edxml_document_id
    )
    with pytest.raises(asyncpg.UniqueViolationError):
        async with db.transaction():
            await ledger.insert_letters(db, [new_letter([H29]), same_identity])
    assert await db.fetchval("SELECT count(*) FROM documents") == 1


async def test_a_stranded_queued_pull_delivery_is_made_available_once_and_audited_once(
    db, agencies
) -> None:
    # A letter to an agency that pushed then, and pulls now: the sweeper makes it available.
    _, deliveries = await _letter(db, [P77])
    await db.execute(
        "UPDATE agencies SET delivery_mode = 'pull', webhook_url = NULL WHERE organ_id = $1", P77
    )
    did = deliveries[P77]
    assert await ledger.make_available(db, did) == P77
    assert await ledger.make_available(db, did) is None
    assert await _events(db, did) == ["delivered"]
    [item] = await ledger.inbox(db, [P77], limit=10)
    assert item.delivery_id == did and item.state == "available"
    assert isinstance(item.received_at, datetime) and item.code == "12/VPCP-TH"


async def test_acknowledged_once_with_business_status_01_and_its_own_audit_entry(
    db, agencies
) -> None:
    _, deliveries = await _letter(db, [H41])
    did = deliveries[H41]
    async with db.transaction():
        now = await ledger.acknowledge(db, did, via="api")
    assert now is not None and now.state == "acknowledged" and now.business_status == "01"
    assert now.acknowledged_at is not None
    async with db.transaction():
        assert await ledger.acknowledge(db, did, via="api") is None
    assert await _events(db, did) == ["delivered", "acknowledged"]
    assert await ledger.inbox(db, [H41], limit=10) == []


async def test_a_push_acknowledgement_is_audited_delivered_then_acknowledged(db, agencies) -> None:
    _, deliveries = await _letter(db, [P77])
    async with db.transaction():
        await ledger.acknowledge(db, deliveries[P77], via="push")
    assert await _events(db, deliveries[P77]) == ["delivered", "acknowledged"]


async def test_many_acknowledged_in_one_statement_each_for_its_own_recipient_only(
    db, agencies
) -> None:
    _, first = await _letter(db, [H41, H29])
    _, second = await _letter(db, [H41])
    unknown = uuid7()
    requests = [
        ledger.AckRequest(first[H41], H41, "api"),
        ledger.AckRequest(first[H29], H41, "api"),  # H29's delivery, asked by H41
        ledger.AckRequest(second[H41], H41, "api"),
        ledger.AckRequest(unknown, H41, "api"),
    ]
    before = await ledger.delivery(db, first[H29])
    assert before is not None
    async with db.transaction():
        done = await ledger.acknowledge_many(db, requests)
    assert set(done) == {first[H41], second[H41]}
    assert all(newly and item.state == "acknowledged" for item, newly in done.values())
    assert all(item.business_status == "01" for item, _ in done.values())
    # H29's delivery was left as it was, and nothing tells H41 it exists.
    untouched = await ledger.delivery(db, first[H29])
    assert untouched == before and untouched.state != "acknowledged"
    # Each letter's acknowledgement leaves its status 01 to seal, once.
    waiting = await db.fetch("SELECT delivery_id FROM arrivals WHERE status_id IS NULL")
    assert {r["delivery_id"] for r in waiting} == {first[H41], second[H41]}
    async with db.transaction():
        again = await ledger.acknowledge_many(db, requests)
    assert {d: newly for d, (_, newly) in again.items()} == {first[H41]: False, second[H41]: False}
    # Delivered at commit (a pull agency's), then acknowledged once, however often asked.
    assert await _events(db, first[H41]) == ["delivered", "acknowledged"]
    assert await ledger.arrivals_waiting(db) == 2


async def test_a_failed_push_schedules_a_retry_then_dead_letters_each_audited(db, agencies) -> None:
    letter_id, deliveries = await _letter(db, [P77])
    did = deliveries[P77]
    due = datetime.now(UTC) + timedelta(seconds=30)
    await ledger.schedule_retry(
        db, did, letter_id, P77, attempts=1, error="503 from webhook", next_attempt_at=due
    )
    item = await ledger.delivery(db, did)
    assert item is not None and item.state == "queued" and item.attempts == 1
    assert item.push_failing_since is not None
    # The sender sees that pushes fail, not the recipient's webhook's answer; the recipient sees it.
    assert item.error_for(G22) is not None and "503" not in (item.error_for(G22) or "")
    assert item.error_for(P77) == "503 from webhook"
    await ledger.dead_letter(db, did, letter_id, P77, attempts=2, error="timeout")
    item = await ledger.delivery(db, did)
    assert item is not None and item.state == "failed" and item.attempts == 2
    assert await _events(db, did) == ["retry_scheduled", "delivery_failed"]


async def test_a_recipient_refusal_fails_only_a_waiting_delivery_of_its_own(db, agencies) -> None:
    _, deliveries = await _letter(db, [H41, H29])
    assert not await ledger.refused_by_recipient(db, deliveries[H41], H29, "not mine")
    assert await ledger.refused_by_recipient(db, deliveries[H41], H41, "corrupt file")
    assert not await ledger.refused_by_recipient(db, deliveries[H41], H41, "again")
    item = await ledger.delivery(db, deliveries[H41])
    assert item is not None and item.state == "failed"
    assert item.last_error == "recipient reported fail via VDXP: corrupt file"
    assert await _events(db, deliveries[H41]) == ["delivered", "delivery_failed"]


async def test_overdue_is_flagged_once_and_audited(db, agencies) -> None:
    past = dt.date.today() - dt.timedelta(days=3)
    _, late = await _letter(db, [H41], due=past)
    _, fresh = await _letter(db, [H29])
    async with db.transaction():
        first = await ledger.mark_overdue(db, 3600.0)
    async with db.transaction():
        second = await ledger.mark_overdue(db, 3600.0)
    assert [r["id"] for r in first] == [late[H41]] and second == []
    assert await _events(db, late[H41]) == ["delivered", "overdue"]
    assert await _events(db, fresh[H29]) == ["delivered"]
    listed = await ledger.deliveries(
        db, G22, role="sent", state="overdue", limit=10, overdue_after=3600.0
    )
    assert [i.delivery_id for i in listed] == [late[H41]]
    assert listed[0].overdue(3600.0)


def test_overdue_rule_in_python() -> None:
    now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    young = now - timedelta(seconds=10)
    old = now - timedelta(hours=2)

    def rule(**kw: object) -> bool:
        args: dict = {
            "kind": "letter",
            "state": "available",
            "created_at": young,
            "due_date": None,
            "business_status": None,
            "threshold": 3600.0,
            "now": now,
        }
        return is_overdue(**{**args, **kw})

    assert not rule()
    assert rule(created_at=old)
    assert not rule(created_at=old, state="acknowledged")
    assert not rule(created_at=old, state="failed")
    assert not rule(created_at=old, kind="status")
    assert rule(state="acknowledged", due_date=dt.date(2026, 3, 9))
    assert not rule(state="acknowledged", due_date=dt.date(2026, 3, 9), business_status="06")
    assert not rule(state="acknowledged", due_date=dt.date(2026, 3, 9), business_status="02")
    assert not rule(state="acknowledged", due_date=dt.date(2026, 3, 10))


@pytest.mark.parametrize(
    ("current", "new", "allowed"),
    [
        (None, "03", True),
        ("01", "03", True),
        ("01", "02", True),
        ("03", "04", True),
        ("05", "06", True),
        ("04", "03", False),
        ("06", "05", False),
        ("02", "03", False),
        (None, "13", False),
    ],
)
def test_statuses_only_move_forward(current: str | None, new: str, allowed: bool) -> None:
    problem = transition_error(current, new, recall_asked=False, business_type=0)
    assert (problem is None) is allowed, problem


def test_recall_answers_need_a_recall_or_update() -> None:
    assert transition_error(None, "15", recall_asked=False, business_type=0) is not None
    assert transition_error(None, "15", recall_asked=True, business_type=0) is None
    assert transition_error(None, "16", recall_asked=False, business_type=1) is None


async def test_only_the_sender_and_the_recipients_see_a_letter(db, agencies) -> None:
    letter_id, _ = await _letter(db, [H41])
    for organ in (G22, H41):
        seen = await ledger.visible_document(db, organ, letter_id)
        assert seen is not None and seen.id == letter_id and seen.sender == G22
    assert await ledger.visible_document(db, X99, letter_id) is None
    assert await ledger.visible_document(db, G22, letter_id, kind="status") is None
    edxml_id = (await ledger.visible_document(db, G22, letter_id)).edxml_document_id  # type: ignore[union-attr]
    assert await ledger.letter_by_reference(db, H41, edxml_id, G22) is not None
    assert await ledger.letter_by_reference(db, X99, edxml_id, G22) is None


async def test_a_trace_shows_a_recipient_its_own_line_and_the_sender_every_line(
    db, agencies
) -> None:
    letter_id, _ = await _letter(db, [H41, H29])
    letter = await ledger.visible_document(db, G22, letter_id)
    assert letter is not None
    assert [line.organ_id for line in (await ledger.trace(db, letter, G22)).recipients] == [
        H41,
        H29,
    ]
    assert [line.organ_id for line in (await ledger.trace(db, letter, H29)).recipients] == [H29]


async def test_the_inbox_filters_by_kind_and_date_and_pages_by_cursor(db, agencies) -> None:
    ids = []
    for _ in range(3):
        _, deliveries = await _letter(db, [H41])
        await ledger.make_available(db, deliveries[H41])
        ids.append(deliveries[H41])
    first = await ledger.inbox(db, [H41], limit=2, kind="letter")
    rest = await ledger.inbox(db, [H41], limit=2, kind="letter", after_seq=first[-1].seq)
    assert [i.delivery_id for i in first + rest] == ids
    assert await ledger.inbox(db, [H41], limit=10, kind="status") == []
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert await ledger.inbox(db, [H41], limit=10, since=tomorrow) == []
    assert await ledger.count_inbox(db, [H41], kind="letter") == 3
    assert await ledger.count_inbox(db, [H41, H29], kind="letter", until=tomorrow) == 3
    assert await ledger.count_inbox(db, [H41], since=tomorrow) == 0
