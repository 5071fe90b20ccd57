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

import asyncpg

from axis.core import ledger
from axis.core.group_commit import GroupCommit
from storage.db import Database, DatabaseUnavailable

log = logging.getLogger("axis.acks")

#: Deliveries one transaction acknowledges at most.
MAX_BATCH = 500
#: Batches in flight at once in one hub process (each holds one pool connection).
DRAINERS = 2

#: PostgreSQL away: the whole batch fails the same way, trying items alone would not help.
_UNAVAILABLE = (
    DatabaseUnavailable,
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
)


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
            self._commit_safely, max_batch=MAX_BATCH, drainers=DRAINERS, name="ack-group-commit"
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

    async def _commit_safely(self, waiting: list[_Waiting]) -> None:
        """A batch of the queue: one hub has one database, so the first item's is the batch's."""
        batch = [(request, future) for _, request, future in waiting]
        try:
            await self._commit(waiting[0][0], batch)
        except BaseException as exc:
            _fail(batch, DatabaseUnavailable(f"the acknowledgement was interrupted: {exc!r}"))
            raise

    async def _commit(
        self, db: Database, batch: list[tuple[ledger.AckRequest, asyncio.Future[Outcome]]]
    ) -> None:
        requests = [request for request, _ in batch]
        try:
            async with db.connection() as conn, conn.transaction():
                done = await ledger.acknowledge_many(conn, requests)
        except _UNAVAILABLE as exc:
            _fail(batch, exc)
            return
        except Exception as exc:
            if len(batch) == 1:
                log.error("event=ack_failed delivery_id=%s error=%r", requests[0].delivery_id, exc)
                _fail(batch, exc)
                return
            log.warning("event=ack_batch_split size=%d error=%r", len(batch), exc)
            for one in batch:
                await self._commit(db, [one])
            return
        answered: set[uuid.UUID] = set()
        arrived = False
        for request, future in batch:
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


def _fail(
    batch: list[tuple[ledger.AckRequest, asyncio.Future[Outcome]]], exc: BaseException
) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)
