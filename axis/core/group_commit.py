"""Group commit: what callers hand in at about the same moment is committed together.

Each caller puts its item in the queue and waits on a future of its own; a few drainer tasks
each take what is queued (at most `max_batch` items) and hand it to the owner's `commit`, which
writes the batch in one transaction and answers every item of it. Nothing waits on purpose: a
batch is whatever queued while the batches before it were committing, so a lone item commits at
once and a crowd shares commits. The letters (axis.core.ledger.batch), the acknowledgements
(axis.core.acks) and eCabinet's ballots (meetings.ballots) are committed this way; what a
refused batch does (items tried again alone, twins answered by the first) is each owner's.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Generic, TypeVar

import asyncpg

from storage.db import DatabaseUnavailable

log = logging.getLogger("axis.group_commit")

T = TypeVar("T")
R = TypeVar("R")

#: PostgreSQL away: a whole batch fails the same way, and trying its items alone would not help.
UNAVAILABLE = (
    DatabaseUnavailable,
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
)


async def in_batch_or_alone(
    batch: list[T],
    write: Callable[[list[T]], Awaitable[R]],
    settle: Callable[[list[T], R], None],
    fail: Callable[[list[T], BaseException], None],
    *,
    event: str,
    noun: str,
    describe: Callable[[T], str],
    logger: logging.Logger,
) -> None:
    """`write` the batch in one transaction and `settle` its items with what it returned.
    PostgreSQL away fails every item with that error; any other error has each item written again
    alone, so one bad item never fails the others (the one that fails alone is logged as
    `event`_failed on `logger`, named by `describe`); an interruption (the task cancelled) fails the items as
    the database being away, and goes on."""
    try:
        try:
            result = await write(batch)
        except UNAVAILABLE as exc:
            fail(batch, exc)
            return
        except Exception as exc:
            if len(batch) == 1:
                logger.error("event=%s_failed %s error=%r", event, describe(batch[0]), exc)
                fail(batch, exc)
                return
            logger.warning("event=%s_batch_split size=%d error=%r", event, len(batch), exc)
            for one in batch:
                await in_batch_or_alone(
                    [one], write, settle, fail,
                    event=event, noun=noun, describe=describe, logger=logger,
                )  # fmt: skip
            return
    except BaseException as exc:  # cancelled, in the batch's write or in one of its items'
        fail(batch, DatabaseUnavailable(f"the {noun} was interrupted: {exc!r}"))
        raise
    settle(batch, result)


class GroupCommit(Generic[T]):
    """Batches of up to `max_batch` items, up to `drainers` of them committing at once (each
    holds one pool connection: one fills while another waits for its WAL flush). `commit` must
    settle every item it is given, whatever happens to it."""

    def __init__(
        self,
        commit: Callable[[list[T]], Awaitable[None]],
        *,
        max_batch: int,
        drainers: int,
        name: str,
    ) -> None:
        self._commit = commit
        self.max_batch = max_batch
        self.drainers = drainers
        self.name = name
        self._queue: deque[T] = deque()
        self._draining = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def put(self, item: T) -> None:
        self.put_many((item,))

    def put_many(self, items: Iterable[T]) -> None:
        self._queue.extend(items)
        while self._queue and self._draining < self.drainers:
            self._draining += 1
            task = asyncio.create_task(self._drain(), name=self.name)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _drain(self) -> None:
        try:
            while self._queue:
                count = min(self.max_batch, len(self._queue))
                await self._commit([self._queue.popleft() for _ in range(count)])
        finally:
            self._draining -= 1

    async def close(self, timeout: float | None = None) -> None:
        """Let the batches already taken finish (their callers are waiting for them), for at most
        `timeout` seconds: shut-down never waits on a database that stopped answering."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        if pending:
            log.error("event=group_commit_stuck name=%s batches=%d", self.name, len(pending))
