"""The status sealer: the background worker of one hub process that seals the status 01 left by
acknowledgements, a batch at a time (axis.core.statuses.seal_pending does the work). Woken by
this process's acknowledgements, and by a short poll for those of other processes and for rows
a killed process left half done."""

from __future__ import annotations

import asyncio

from axis.core.statuses import SEAL_BATCH, seal_pending
from axis.hub import Hub
from axis.workers.worker import PeriodicWorker


class Sealer(PeriodicWorker):
    name = "status-sealer"

    def __init__(self, hub: Hub, *, poll_interval: float = 0.5, linger: float = 0.05) -> None:
        super().__init__()
        self.hub = hub
        self.interval = poll_interval
        self.linger = linger

    async def wait(self) -> None:
        await super().wait()
        # Woken by one acknowledgement, wait for those of the next moment: one batch and one
        # signature for them all, instead of a batch each (at most 1/linger batches a second).
        await asyncio.sleep(self.linger)

    async def tick(self) -> None:
        while await seal_pending(self.hub) >= SEAL_BATCH:
            pass
