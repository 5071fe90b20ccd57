"""PostgreSQL access: a pool that survives the server going away, and database creation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import urllib.parse
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import asyncpg

log = logging.getLogger("storage.db")


CLOSE_GRACE = 5.0

#: A notification to send once the work on a connection is done: (channel, payload).
Notice = tuple[str, str]
NoticeSink = Callable[[Sequence[Notice]], None]

#: Notifications queued by `notify` on a connection lent by `Database.connection()` whose
#: database has a sink, by id of the connection; sent when the connection is given back.
_QUEUED: dict[int, list[Notice]] = {}


async def notify(conn: asyncpg.Connection, channel: str, payload: str = "") -> None:
    """A wake-up for whoever listens on `channel`, sent after the caller's transaction.

    On a connection lent by a `Database` that has a notice sink (`Database.notices`), this costs no
    round trip and takes no part in the transaction: the notice is handed to the sink when the
    connection goes back to the pool, after the commit (a rolled-back transaction may still send
    it: a notice is only a nudge to look). Anywhere else it is PostgreSQL's own NOTIFY, delivered
    at the caller's commit."""
    queued = _QUEUED.get(id(conn))
    if queued is None:
        await conn.execute("SELECT pg_notify($1, $2)", channel, payload)
    else:
        queued.append((channel, payload))


async def plan_on_keys(conn: asyncpg.Connection) -> None:
    """Plan the rest of the caller's transaction on indexes (SET LOCAL enable_seqscan = off).

    For transactions whose statements look rows up by a batch of keys (an unnest of a few dozen
    ids) in tables that grow fast. PostgreSQL plans them from statistics that autovacuum
    refreshes about once a minute, so a table that grew meanwhile (a hub just started, a burst)
    looks small and each batch gets a hash join over a scan of the whole table: milliseconds per
    batch, growing with the table, where a handful of index lookups would do. A table without a
    usable index is still scanned."""
    await conn.execute("SET LOCAL enable_seqscan = off")


async def _no_reset(conn: asyncpg.Connection) -> None:
    """The pool's reset on release: nothing. asyncpg still rolls back a transaction left open;
    the session state that its default reset query clears (advisory locks, settings, LISTEN,
    cursors) is only ever made on a connection borrowed with `session_state=True`, which is reset
    fully before it goes back. Spares a round trip per borrowed connection."""


class DatabaseUnavailable(Exception):
    """PostgreSQL cannot be reached right now."""


#: Errors that mean the server is away (shut down, restarting, or the network cut), not a bad query.
_SERVER_GONE = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
)
_CONNECTION_LOST = (OSError, *_SERVER_GONE)


def _is_lost(conn: asyncpg.Connection) -> bool:
    try:
        return bool(conn.is_closed())
    except asyncpg.InterfaceError:
        return True  # the pool has already taken back the dead connection from its proxy


def database_name(url: str) -> str:
    return urllib.parse.urlsplit(url).path.lstrip("/") or "postgres"


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database."""
    return urllib.parse.urlunsplit(urllib.parse.urlsplit(url)._replace(path="/" + name))


async def ensure_database(url: str) -> bool:
    """Create the URL's database when it does not exist; True when it was created."""
    name = database_name(url)
    conn = await asyncpg.connect(with_database(url, "postgres"))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        try:
            await conn.execute(f'CREATE DATABASE "{_quote(name)}"')
        except asyncpg.DuplicateDatabaseError:
            return False  # another process created it at the same moment
        return True
    finally:
        await conn.close()


async def drop_database(url: str) -> None:
    name = database_name(url)
    conn = await asyncpg.connect(with_database(url, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{_quote(name)}" WITH (FORCE)')
    finally:
        await conn.close()


def _quote(name: str) -> str:
    if '"' in name or "\x00" in name:
        raise ValueError(f"bad database name {name!r}")
    return name


class Database:
    """A lazily (re)connecting asyncpg pool.

    The pool is opened in the background with growing delays while PostgreSQL is down, so the
    service starts anyway and becomes ready on its own once the server answers. asyncpg drops
    broken connections from the pool, so a restart of the server heals without intervention.
    """

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self.url = url
        self._min = min_size
        self._max = max_size
        self._pool: asyncpg.Pool | None = None
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.last_error: str | None = None
        #: Where `notify` hands the notices of a connection once it is given back; None sends
        #: them with PostgreSQL's NOTIFY inside the caller's transaction.
        self.notices: NoticeSink | None = None

    async def start(self, *, wait: bool = False) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._connect_loop(), name="db-connect")
        if wait:
            await self._ready.wait()

    async def _connect_loop(self) -> None:
        delay = 0.5
        while self._pool is None:
            try:
                self._pool = await asyncpg.create_pool(
                    self.url,
                    min_size=self._min,
                    max_size=self._max,
                    command_timeout=60,
                    reset=_no_reset,
                )
                self.last_error = None
                self._ready.set()
                log.info("event=db_connected database=%s", database_name(self.url))
            except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("event=db_unavailable retry_in=%.1fs error=%r", delay, self.last_error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise DatabaseUnavailable(self.last_error or "PostgreSQL is not connected yet")
        return self._pool

    async def wait_ready(self, timeout: float) -> None:
        await asyncio.wait_for(self._ready.wait(), timeout)

    @asynccontextmanager
    async def connection(
        self, wait: float = 5.0, *, session_state: bool = False
    ) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection; waits up to `wait` seconds for the first connect at start-up.

        `session_state=True` for a caller that leaves state in the session (a session advisory
        lock, a SET): the connection is reset fully before it goes back to the pool."""
        if self._pool is None and wait > 0:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._ready.wait(), wait)
        pool = self.pool
        try:
            conn = await pool.acquire()
        except _CONNECTION_LOST as exc:
            raise self._unavailable(exc) from exc
        sink = self.notices
        queued: list[Notice] = []
        if sink is not None:
            _QUEUED[id(conn)] = queued
        try:
            yield conn
        except DatabaseUnavailable:
            raise
        except Exception as exc:
            # A server that goes away in the middle of a transaction surfaces as whatever the next
            # step trips on (often `InterfaceError: the underlying connection is closed` when the
            # transaction block is left), not always as a connection error.
            # A bare OSError from the block may be another service's (RabbitMQ in the relay):
            # it counts as PostgreSQL's only when this connection is the one that died.
            if isinstance(exc, _SERVER_GONE) or _is_lost(conn):
                raise self._unavailable(exc) from exc
            raise
        finally:
            if sink is not None:
                _QUEUED.pop(id(conn), None)
            await self._release(pool, conn, session_state)
            if queued:
                assert sink is not None
                try:
                    sink(queued)
                except Exception:
                    log.exception("event=notice_sink_failed notices=%d", len(queued))

    def _unavailable(self, exc: BaseException) -> DatabaseUnavailable:
        self.last_error = f"{type(exc).__name__}: {exc}"
        return DatabaseUnavailable(self.last_error)

    @staticmethod
    async def _release(
        pool: asyncpg.Pool, conn: asyncpg.Connection, session_state: bool = False
    ) -> None:
        """Give the connection back. When that fails (the server went away after the caller's
        last statement), asyncpg has already thrown the connection out; what the caller did is
        done, committed or not, and must not be reported as failed because of it."""
        try:
            if session_state and not _is_lost(conn):
                try:
                    await conn.reset(timeout=10)
                except BaseException:
                    # A session that could not be cleaned (a lock that may still be held) never
                    # goes back to the pool.
                    conn.terminate()
                    raise
            await pool.release(conn)
        except Exception as exc:
            log.warning("event=db_release_failed error=%r", f"{type(exc).__name__}: {exc}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._pool is not None:
            # close() waits for every borrowed connection; a task stuck on a dead peer must not
            # hold shut-down hostage, so after a grace period the rest are cut.
            try:
                await asyncio.wait_for(self._pool.close(), CLOSE_GRACE)
            except TimeoutError:
                log.warning("event=db_close_forced grace=%ss", CLOSE_GRACE)
                self._pool.terminate()
            self._pool = None
