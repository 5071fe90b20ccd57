"""Work that must not grow with history: on a ledger holding tens of thousands of old letters, the
sweepers, the overdue watch, the relay's outbox claim and the inbox and list queries are planned
on indexes (PostgreSQL's own EXPLAIN, enable_seqscan left on), never on a scan of a whole table.

Each query is the hub's own: the real function runs against a connection that answers EXPLAIN
instead of executing, so a change to the SQL or a dropped index (migration 0011) fails here."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from axis.core import agencies, ledger
from axis.core.ledger import lists
from axis.core.ledger.history import HistoryShape, write_history
from axis.workers import relay
from axis.workers.dispatch import retries
from storage.db import drop_database, with_database
from tests.support.services import BASE_DATABASE_URL

#: Tables that grow with history: a plan may never read one of them whole. (The outbox does not:
#: a row leaves it when its notice is published, so reading it whole reads the work in flight.)
HISTORY_TABLES = {"deliveries", "documents", "audit_events", "document_attachments"}
LETTERS = 50_000
PULL = [f"000.00.{60 + i // 99:02d}.H{1 + i % 99:02d}" for i in range(24)]
PUSH = "000.00.70.H01"


class Explaining:
    """Stands for an asyncpg connection: every query is planned (EXPLAIN, FORMAT JSON) with its
    arguments instead of being run, and its plan kept."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.plans: list[dict[str, Any]] = []

    async def _explain(self, sql: str, *args: object) -> None:
        raw = await self.conn.fetchval("EXPLAIN (FORMAT JSON) " + sql, *args)
        self.plans.append(json.loads(raw)[0]["Plan"])

    async def fetch(self, sql: str, *args: object) -> list[Any]:
        await self._explain(sql, *args)
        return []

    async def fetchval(self, sql: str, *args: object) -> int:
        await self._explain(sql, *args)
        return 0

    async def fetchrow(self, sql: str, *args: object) -> None:
        await self._explain(sql, *args)

    async def execute(self, sql: str, *args: object) -> str:
        if sql.startswith("SET LOCAL "):
            return str(await self.conn.execute(sql))  # a planner setting: it must take effect
        await self._explain(sql, *args)
        return ""


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += _nodes(child)
    return found


def whole_table_scans(plans: list[dict[str, Any]]) -> list[str]:
    return [
        node["Relation Name"]
        for plan in plans
        for node in _nodes(plan)
        if node["Node Type"] in ("Seq Scan", "Parallel Seq Scan")
        and node.get("Relation Name") in HISTORY_TABLES
    ]


def indexes_used(plans: list[dict[str, Any]]) -> set[str]:
    return {node["Index Name"] for plan in plans for node in _nodes(plan) if "Index Name" in node}


@pytest.fixture(scope="module")
async def history(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A ledger with LETTERS letters of a year's history among 25 agencies, one of them push,
    and a little live work (letters in flight), analysed as autovacuum would; made once for the
    module (the tests only plan queries, they change nothing)."""
    name = f"axis_t_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(with_database(BASE_DATABASE_URL, "postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{database_url.rsplit("/", 1)[1]}"')
    finally:
        await admin.close()
    url = with_database(BASE_DATABASE_URL, name)
    conn = await asyncpg.connect(url)
    try:
        for organ in PULL:
            await agencies.add(conn, organ_id=organ, name=f"Cơ quan {organ}")
        await agencies.add(
            conn,
            organ_id=PUSH,
            name="Cơ quan đẩy",
            webhook_url="http://127.0.0.1:9/hook",
            allow_private=True,
        )
        shape = HistoryShape(organs=[*PULL, PUSH], read_to_end=PULL[:2])
        await write_history(conn, shape, 0, LETTERS, LETTERS)
        # In flight now: a few deliveries waiting for their notice, with their outbox rows.
        await conn.execute(
            """WITH d AS (UPDATE deliveries SET state = 'queued', created_at = now(),
                                 acknowledged_at = NULL, business_status = NULL
                           WHERE id IN (SELECT id FROM deliveries ORDER BY seq DESC LIMIT 30)
                       RETURNING id, recipient)
               INSERT INTO outbox (delivery_id, routing_key) SELECT id, recipient FROM d"""
        )
        await conn.execute("VACUUM ANALYZE")
        yield conn
    finally:
        await conn.close()
        await drop_database(url)


async def test_the_history_is_large_enough_that_a_whole_table_scan_would_be_chosen_without_an_index(
    history: asyncpg.Connection,
) -> None:
    assert await history.fetchval("SELECT count(*) FROM deliveries") > 1.5 * LETTERS
    # The yardstick: a filter no index serves is planned as a scan of the whole table.
    explaining = Explaining(history)
    await explaining.fetch("SELECT id FROM deliveries WHERE attempts = 3")
    assert whole_table_scans(explaining.plans) == ["deliveries"]


async def test_the_sweepers_read_only_deliveries_in_flight(history: asyncpg.Connection) -> None:
    explaining = Explaining(history)
    await retries.stuck_pull_deliveries(explaining, 60.0)  # type: ignore[arg-type]
    await retries.stuck_push_agencies(explaining, 5.0)  # type: ignore[arg-type]

    assert whole_table_scans(explaining.plans) == []
    assert "deliveries_queued" in indexes_used(explaining.plans[:1])
    assert "deliveries_inbox" in indexes_used(explaining.plans[1:])


async def test_the_overdue_watch_reads_only_deliveries_it_may_flag(
    history: asyncpg.Connection,
) -> None:
    explaining = Explaining(history)
    await ledger.mark_overdue(explaining, 86400.0)  # type: ignore[arg-type]
    await ledger.count_overdue(explaining, 86400.0)  # type: ignore[arg-type]

    assert whole_table_scans(explaining.plans) == []
    assert {"deliveries_watch_unacked", "deliveries_watch_due"} <= indexes_used(
        explaining.plans[:1]
    )
    assert "deliveries_watch_flagged" in indexes_used(explaining.plans[1:])


async def test_the_relay_reads_the_outbox_and_only_the_deliveries_it_names(
    history: asyncpg.Connection,
) -> None:
    explaining = Explaining(history)
    await explaining.fetch(relay.CLAIM, relay.BATCH)

    assert whole_table_scans(explaining.plans) == []
    assert "deliveries_pkey" in indexes_used(explaining.plans)


async def test_the_inbox_and_the_lists_read_one_agency_s_rows(
    history: asyncpg.Connection,
) -> None:
    explaining = Explaining(history)
    organ = PULL[0]
    await ledger.inbox(explaining, [organ], limit=100)  # type: ignore[arg-type]
    await ledger.count_inbox(explaining, [organ])  # type: ignore[arg-type]
    for role in ("received", "sent"):
        for state in (None, "available", "overdue"):
            await ledger.deliveries(
                explaining,  # type: ignore[arg-type]
                organ,
                role=role,
                state=state,
                limit=50,
                overdue_after=86400.0,
            )
    await lists.received(explaining, organ, lists.Search())  # type: ignore[arg-type]
    await lists.sent(explaining, organ, lists.Search())  # type: ignore[arg-type]

    assert whole_table_scans(explaining.plans) == []


# ---------------------------------------------------------------- plans made while small


@pytest.fixture
async def young(test_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A ledger that is still small (a hub just started), analysed. A plan PostgreSQL makes for
    it reads small tables whole; a connection keeps its statements' generic plans (PostgreSQL's
    plan cache, asyncpg's prepared statements) while a burst grows the tables faster than
    autovacuum analyses them, so that plan goes on serving the grown table (seen in
    `axis bench axis`: each acknowledgement read every delivery twice)."""
    conn = await asyncpg.connect(test_database_url)
    try:
        for organ in PULL[:4]:
            await agencies.add(conn, organ_id=organ, name=f"Cơ quan {organ}")
        await write_history(conn, HistoryShape(PULL[:4], PULL[:1]), 0, 60, 60)
        await conn.execute("ANALYZE")
        yield conn
    finally:
        await conn.close()


async def _some_acks(conn: asyncpg.Connection) -> list[ledger.AckRequest]:
    rows = await conn.fetch("SELECT id, recipient FROM deliveries ORDER BY seq DESC LIMIT 20")
    return [ledger.AckRequest(r["id"], r["recipient"], "inbox") for r in rows]


async def test_a_batch_of_ids_is_planned_as_a_whole_table_scan_while_the_table_is_small(
    young: asyncpg.Connection,
) -> None:
    """The yardstick: left to the statistics of a small table, a batch reads it whole."""
    requests = await _some_acks(young)
    explaining = Explaining(young)
    await explaining.fetch(
        "SELECT d.* FROM deliveries d JOIN unnest($1::uuid[]) AS r(id) ON r.id = d.id",
        [r.delivery_id for r in requests],
    )
    assert whole_table_scans(explaining.plans) == ["deliveries"]


async def test_acknowledging_a_batch_is_planned_on_indexes_whatever_the_statistics(
    young: asyncpg.Connection,
) -> None:
    requests = await _some_acks(young)
    explaining = Explaining(young)
    async with young.transaction():
        await ledger.acknowledge_many(explaining, requests)  # type: ignore[arg-type]

    assert len(explaining.plans) == 1 and whole_table_scans(explaining.plans) == []
    assert "deliveries_pkey" in indexes_used(explaining.plans)


async def test_the_sealer_is_planned_on_indexes_whatever_the_statistics(
    young: asyncpg.Connection,
) -> None:
    await young.execute(
        "INSERT INTO arrivals (delivery_id, acknowledged_at) SELECT id, now() FROM deliveries"
    )
    explaining = Explaining(young)
    async with young.transaction():
        await ledger.arrivals_to_seal(explaining, 100)  # type: ignore[arg-type]

    assert len(explaining.plans) == 1 and whole_table_scans(explaining.plans) == []
