"""The audit chainer: the background worker of one hub process that links each committed audit
row to the one before it and seals checkpoints (axis.core.audit.chain_pending does the work)."""

from __future__ import annotations

import asyncio

import signing
from axis.core.audit import BATCH, CheckpointPolicy, chain_pending
from axis.workers.worker import PeriodicWorker
from storage.db import Database


class Chainer(PeriodicWorker):
    """The background worker of one hub process; woken by NOTIFY and by a short poll."""

    name = "audit-chainer"

    def __init__(
        self,
        db: Database,
        seal: signing.Seal,
        policy: CheckpointPolicy,
        *,
        poll_interval: float = 1.0,
        linger: float = 0.1,
    ) -> None:
        super().__init__()
        self.db = db
        self.seal = seal
        self.policy = policy
        self.interval = poll_interval
        self.linger = linger

    async def wait(self) -> None:
        await super().wait()
        # Woken by one commit's entries, wait for those of the next moment: each link of the
        # chain costs a transaction of seven round trips under the cluster-wide lock, so one for
        # the many entries of a busy moment instead of one per group commit (at most 1/linger
        # a second; a proof waits for its entries to be chained anyway).
        await asyncio.sleep(self.linger)

    async def tick(self) -> None:
        while True:
            async with self.db.connection() as conn:
                done = await chain_pending(conn, self.seal, self.policy)
            if not done or done < BATCH:
                return
