"""Group commit of letters: the letters submitted at about the same moment are written together,
set-based, in one transaction, and each submitter is answered only once that transaction has
committed (a 202 still means committed).

Nothing waits on purpose: a batch is whatever queued while the transactions before it were
committing, so a lone letter commits at once and a crowd shares commits. One bad letter never
fails its neighbours: when the set-based insert is refused, the batch is written again one
letter per savepoint, and only the letters refused on their own get the error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from axis import metrics
from axis.core.group_commit import GroupCommit
from axis.core.ledger import writes
from storage.db import Database

log = logging.getLogger("axis.ledger.batch")


class SameLetterInBatch(Exception):
    """Another letter with the same identity (sender, DocumentId, business type) was in the same
    batch and was written instead; the caller answers as for an identical letter sent twice."""


_Waiting = tuple[writes.NewLetter, asyncio.Future[None]]


class LetterBatcher:
    """Writes letters in batches of up to `max_batch`, with up to `max_in_flight` transactions
    committing at once (axis.core.group_commit)."""

    def __init__(self, db: Database, *, max_batch: int = 64, max_in_flight: int = 2) -> None:
        self.db = db
        self._group = GroupCommit(
            self._commit, max_batch=max_batch, drainers=max_in_flight, name="letter-batch"
        )

    async def insert(self, letter: writes.NewLetter) -> None:
        """Returns once the letter is committed; raises what refused it (asyncpg's
        UniqueViolationError for an identical letter already stored, SameLetterInBatch, or the
        database being away)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._group.put((letter, future))
        # The batch commits even when the request is cancelled meanwhile (the client went away):
        # it was accepted, and a repeat of it gets the first answer.
        await asyncio.shield(future)

    async def _commit(self, batch: list[_Waiting]) -> None:
        seen: set[tuple[str, str, int]] = set()
        writing: list[_Waiting] = []
        again: list[_Waiting] = []
        for letter, future in batch:
            key = (letter.sender, letter.edxml_document_id, letter.business_type)
            if key in seen:
                again.append((letter, future))
                continue
            seen.add(key)
            writing.append((letter, future))
        metrics.BATCH_SIZE.labels("letters").observe(len(writing))
        try:
            await self._write(writing)
        finally:
            # Told only now, once the first of them is committed (or refused): it answers for them.
            for letter, future in again:
                if not future.done():
                    future.set_exception(SameLetterInBatch(letter.edxml_document_id))

    async def _write(self, writing: list[_Waiting]) -> None:
        try:
            await self._all_at_once(writing)
        except asyncpg.PostgresError as exc:
            log.info(
                "event=batch_refused letters=%d error=%r; writing them one by one",
                len(writing),
                f"{type(exc).__name__}: {exc}",
            )
            await self._guarded(self._one_by_one, writing)
        except BaseException as exc:
            _fail_all(writing, exc)
            if not isinstance(exc, Exception):
                raise

    async def _all_at_once(self, writing: list[_Waiting]) -> None:
        async with self.db.connection() as conn, conn.transaction():
            await writes.insert_letters(conn, [letter for letter, _ in writing])
        for _, future in writing:
            if not future.done():
                future.set_result(None)

    async def _one_by_one(self, writing: list[_Waiting]) -> None:
        refused: dict[int, BaseException] = {}
        async with self.db.connection() as conn, conn.transaction():
            for n, (letter, _) in enumerate(writing):
                try:
                    async with conn.transaction():  # a savepoint
                        await writes.insert_letter(conn, letter)
                except asyncpg.PostgresError as exc:
                    refused[n] = exc
        for n, (_, future) in enumerate(writing):
            if future.done():
                continue
            if n in refused:
                future.set_exception(refused[n])
            else:
                future.set_result(None)

    async def _guarded(
        self, step: Callable[[list[_Waiting]], Awaitable[None]], writing: list[_Waiting]
    ) -> None:
        try:
            await step(writing)
        except BaseException as exc:
            _fail_all(writing, exc)
            if not isinstance(exc, Exception):
                raise

    async def close(self) -> None:
        """Let the batches already taken finish (their submitters are waiting for them)."""
        await self._group.close()


def _fail_all(writing: list[_Waiting], exc: BaseException) -> None:
    for _, future in writing:
        if not future.done():
            if isinstance(exc, Exception):
                future.set_exception(exc)
            else:
                future.cancel()
