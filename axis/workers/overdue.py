"""The overdue watch: raises a log event and a metric, once, for each delivery that falls overdue."""

from __future__ import annotations

import logging

from axis import metrics
from axis.core import ledger
from axis.hub import Hub
from axis.workers.worker import PeriodicWorker

log = logging.getLogger("axis.overdue")

_LOCK = "axis-overdue-watch"


class OverdueWatch(PeriodicWorker):
    name = "overdue-watch"

    def __init__(self, hub: Hub, *, interval: float = 15.0) -> None:
        super().__init__()
        self.hub = hub
        self.interval = interval

    async def tick(self) -> None:
        await self.check_once()

    async def check_once(self) -> int:
        """Mark and report newly overdue deliveries; only one hub process does it at a time."""
        threshold = self.hub.config.ack_overdue_seconds
        async with self.hub.db.connection() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext($1))", _LOCK):
                return 0
            rows = await ledger.mark_overdue(conn, threshold)
            current = await ledger.count_overdue(conn, threshold)
        metrics.OVERDUE_NOW.set(current)
        for r in rows:
            metrics.OVERDUE_TOTAL.inc()
            log.warning(
                "event=overdue delivery_id=%s document_id=%s sender=%s recipient=%s due_date=%s",
                r["id"],
                r["document_id"],
                r["sender"],
                r["recipient"],
                r["due_date"],
            )
        return len(rows)
