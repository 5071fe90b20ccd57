"""The sweepers: the safety net for notices that went missing (a retry nudge dropped by a wait
queue, a first notice dropped after a broker's redelivery limit)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from axis.core.delivery import make_available
from axis.workers.dispatch import retries
from axis.workers.worker import PeriodicWorker

if TYPE_CHECKING:
    from axis.workers.dispatch.consume import Dispatcher

log = logging.getLogger("axis.dispatch")

SWEEP_INTERVAL = 5.0
PULL_GRACE = 60.0  # seconds a relayed pull delivery may wait for its notice before the sweep acts


class Sweeper(PeriodicWorker):
    """Every few seconds: drain push agencies left waiting, make stranded pull deliveries available."""

    name = "push-sweeper"
    interval = SWEEP_INTERVAL
    first_wait = True

    def __init__(self, dispatcher: Dispatcher) -> None:
        super().__init__()
        self.dispatcher = dispatcher
        self.hub = dispatcher.hub

    async def tick(self) -> None:
        async with self.hub.db.connection() as conn:
            organs = await retries.stuck_push_agencies(conn, SWEEP_INTERVAL)
        for organ in organs:
            await self.dispatcher.drain(organ)
        await self.sweep_pull()

    async def sweep_pull(self) -> None:
        """A pull delivery relayed long ago but never made available is made available."""
        async with self.hub.db.connection() as conn:
            stuck = await retries.stuck_pull_deliveries(conn, PULL_GRACE)
        for delivery_id in stuck:
            if await make_available(self.hub, delivery_id):
                log.warning("event=pull_notice_missing delivery_id=%s", delivery_id)
