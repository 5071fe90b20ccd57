"""Group commit of acknowledgements: those that arrive together (many requests at once, one batch
call, the webhook pushes) commit together, in one set-based transaction per batch.

A request puts its deliveries in the queue and waits; a few drainers each take what is queued,
commit it with `ledger.acknowledge_many` and answer every waiter. When a batch fails for another
reason than PostgreSQL being away, each of its items is tried again alone, so one bad item never
fails its neighbours."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from axis.core import ledger
from axis.core.group_commit import GroupCommit, in_batch_or_alone
from storage.db import Database

log = logging.getLogger("axis.acks")

#: Deliveries one transaction acknowledges at most.
MAX_BATCH = 500
#: Batches in flight at once in one hub process (each holds one pool connection).
DRAINERS = 2


@dataclass(frozen=True)
class Outcome:
    """One request's answer: the delivery as it now stands (None: none of that id for that
    recipient) and whether this request acknowledged it."""

    item: ledger.DeliveryItem | None
    newly: bool


#: A request waiting in the queue, with the database it is for.
_Waiting = tuple[Database, "ledger.AckRequest", "asyncio.Future[Outcome]"]


def _noop() -> None:
    pass


class AckGroup:
    """The group committer of one hub process."""

    def __init__(self) -> None:
        self._group: GroupCommit[_Waiting] = GroupCommit(
            self._commit, max_batch=MAX_BATCH, drainers=DRAINERS, name="ack-group-commit"
        )
        #: Called after a commit that left status 01 to seal (the app wakes its sealer).
        self.arrived: Callable[[], None] = _noop

    async def acknowledge(
        self, db: Database, requests: Sequence[ledger.AckRequest]
    ) -> list[Outcome | BaseException]:
        """Acknowledge `requests` (in whichever batches they fall): per request its outcome, or
        the error that stopped that one alone (or its whole batch, PostgreSQL being away)."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Outcome]] = []
        waiting: list[_Waiting] = []
        for request in requests:
            future: asyncio.Future[Outcome] = loop.create_future()
            waiting.append((db, request, future))
            futures.append(future)
        self._group.put_many(waiting)
        # The batch commits even if this caller goes away: acknowledging is idempotent.
        return list(await asyncio.gather(*futures, return_exceptions=True))

    async def _commit(self, waiting: list[_Waiting]) -> None:
        """A batch of the queue: one hub has one database, so the first item's is the batch's."""
        await in_batch_or_alone(
            waiting,
            self._write,
            self._settle,
            _fail,
            event="ack",
            noun="acknowledgement",
            describe=lambda item: f"delivery_id={item[1].delivery_id}",
            logger=log,
        )

    @staticmethod
    async def _write(
        waiting: list[_Waiting],
    ) -> dict[uuid.UUID, tuple[ledger.DeliveryItem, bool]]:
        async with waiting[0][0].connection() as conn, conn.transaction():
            return await ledger.acknowledge_many(conn, [request for _, request, _ in waiting])

    def _settle(
        self, waiting: list[_Waiting], done: dict[uuid.UUID, tuple[ledger.DeliveryItem, bool]]
    ) -> None:
        answered: set[uuid.UUID] = set()
        arrived = False
        for _, request, future in waiting:
            item, newly = done.get(request.delivery_id, (None, False))
            # The same delivery twice in one batch: the first request made it, the next one finds
            # it made, as if it had come a moment later.
            newly = newly and request.delivery_id not in answered
            if item is not None:
                answered.add(request.delivery_id)
                arrived = arrived or (newly and item.kind == "letter")
            if not future.done():
                future.set_result(Outcome(item, newly))
        if arrived:
            self.arrived()


def _fail(waiting: list[_Waiting], exc: BaseException) -> None:
    for _, _, future in waiting:
        if not future.done():
            future.set_exception(exc)
