"""`axis bench axis --prefill N`: a year of history written into the sandbox's database before the
hub starts (axis.core.ledger.history, in bulk inside PostgreSQL), its audit entries chained and
sealed as the hub's chainer would, and the tables vacuumed and analysed as autovacuum would."""

from __future__ import annotations

import contextlib
import time
import uuid
from typing import Any

import asyncpg

from axis.benchmarks.sandbox import Progress, Sandbox
from axis.config import Config
from axis.core import agencies
from axis.core.audit import CheckpointPolicy, chain_pending
from axis.core.ledger.history import CHUNK, HistoryShape, write_history
from axis.hub import load_seal

#: Agencies of the history beside the benchmark's own sender and recipients.
HISTORY_AGENCIES = 200


def history_organs(count: int) -> list[str]:
    """Organ ids of the history's agencies, apart from the benchmark's (000.00.5x.Hyy)."""
    return [f"000.00.{50 + i // 99:02d}.H{1 + i % 99:02d}" for i in range(count)]


async def prefill(
    sandbox: Sandbox, base: Config, letters: int, progress: Progress
) -> dict[str, Any]:
    """Store `letters` letters of history; what was written and how long each step took."""
    started = time.perf_counter()
    conn = await asyncpg.connect(sandbox.database_url)
    try:
        organs = history_organs(HISTORY_AGENCIES)
        for organ in organs:
            await agencies.add(conn, organ_id=organ, name=f"Cơ quan {organ}")
        bench = [sandbox.sender.organ_id, *(r.organ_id for r in sandbox.recipients)]
        shape = HistoryShape(
            organs=[*bench, *organs],
            read_to_end=[r.organ_id for r in sandbox.recipients],
            ack_overdue_seconds=base.ack_overdue_seconds,
            tag=f"LS-{uuid.uuid4().hex[:6].upper()}",
        )
        # A bulk load as PostgreSQL's own tools do it: no foreign-key checks or triggers for rows
        # consistent by construction (history.py writes the deliveries' DueDate copy itself and no
        # hub is listening); needs a superuser, and without one the fill is about 40 % slower.
        try:
            await conn.execute("SET session_replication_role = replica")
            checks = "skipped (session_replication_role = replica)"
        except asyncpg.InsufficientPrivilegeError:
            checks = "on (not a superuser)"
        totals: dict[str, int] = {}
        for first in range(0, letters, CHUNK):
            count = min(CHUNK, letters - first)
            for table, rows in (await write_history(conn, shape, first, count, letters)).items():
                totals[table] = totals.get(table, 0) + rows
            progress(
                f"prefill: {first + count}/{letters} letters "
                f"({time.perf_counter() - started:.0f} s)"
            )
        written = time.perf_counter()
        await conn.execute("RESET session_replication_role")

        # The hub's chainer would chain all this while being measured: chain it now, as it would.
        seal = load_seal(sandbox.root / "seal")
        policy = CheckpointPolicy.from_config(base)
        chained = 0
        while True:
            done = await chain_pending(conn, seal, policy, wait=True)
            chained += done or 0
            if not done:
                break
            if chained % 200_000 < (done or 0):
                progress(f"prefill: {chained} audit entries chained")
        await chain_pending(conn, seal, policy, wait=True, force_checkpoint=True)
        linked = time.perf_counter()

        progress("prefill: VACUUM ANALYZE and CHECKPOINT")
        for table in ("documents", "deliveries", "audit_events", "agencies"):
            await conn.execute(f"VACUUM ANALYZE {table}")
        # The bulk load's WAL is flushed now, not by a checkpoint during the measured run.
        with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CHECKPOINT")
        vacuumed = time.perf_counter()
        sizes = {
            r["relname"]: r["bytes"]
            for r in await conn.fetch(
                """SELECT relname, pg_total_relation_size(oid) AS bytes FROM pg_class
                    WHERE relname = ANY($1::text[])""",
                ["documents", "deliveries", "audit_events"],
            )
        }
    finally:
        await conn.close()
    return {
        "letters": totals.get("letters", 0),
        "deliveries": totals.get("deliveries", 0),
        "statuses": totals.get("statuses", 0),
        "audit_events": totals.get("audit_events", 0),
        "agencies": len(shape.organs),
        "foreign_keys_and_triggers": checks,
        "write_seconds": round(written - started, 1),
        "chain_seconds": round(linked - written, 1),
        "vacuum_seconds": round(vacuumed - linked, 1),
        "seconds": round(vacuumed - started, 1),
        "table_mib": {name: round(size / 2**20, 1) for name, size in sorted(sizes.items())},
    }
