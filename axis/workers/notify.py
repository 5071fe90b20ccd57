"""PostgreSQL LISTEN/NOTIFY on dedicated connections that come back after the server restarts:
the Listener hears every hub process's wake-ups, the Notifier sends this process's after commit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

import asyncpg

from axis.core.waits import wait_event
from axis.workers.worker import Worker
from storage.db import Notice

log = logging.getLogger("axis.notify")

Callback = Callable[[str], None]
#: How the LISTEN connection shows in pg_stat_activity.
APPLICATION_NAME = "axis-listen"
#: How the Notifier's connection shows in pg_stat_activity.
NOTIFY_APPLICATION_NAME = "axis-notify"


class ListenLost(ConnectionError):
    """The LISTEN connection ended; the worker connects again."""


class Listener(Worker):
    """Calls back on notifications; after a reconnect every callback gets "*" (something may be
    missed). `on_lost` callbacks run as soon as the connection is known to be gone, for whoever
    must stop trusting what it keeps in memory until the "*" comes."""

    name = "pg-listen"

    def __init__(
        self,
        url: str,
        channels: dict[str, Callback],
        on_lost: list[Callable[[], None]] | None = None,
    ) -> None:
        super().__init__()
        self.url = url
        self.channels = channels
        self.on_lost = on_lost or []
        #: Backend pids whose notifications were already handled in this process (the Notifier's).
        self.own_pids: set[int] = set()

    async def run(self) -> None:
        conn: asyncpg.Connection | None = None
        try:
            conn = await asyncpg.connect(
                self.url, server_settings={"application_name": APPLICATION_NAME}
            )
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _c, lost=lost: self._lost(lost))
            for channel, callback in self.channels.items():
                await conn.add_listener(channel, self._adapter(callback))
            for callback in self.channels.values():
                callback("*")
            self.recovered()
            while not lost.is_set():
                # A quiet connection can die without a termination event; probe it now and then.
                await wait_event(lost, 5.0)
                if not lost.is_set():
                    await asyncio.wait_for(conn.fetchval("SELECT 1"), 5.0)
            raise ListenLost("the LISTEN connection was closed")
        finally:
            # Whatever ended this pass (a lost connection, a failed connect, shutdown), nothing
            # heard from PostgreSQL can be trusted until the next "*".
            for lost_callback in self.on_lost:
                lost_callback()
            if conn is not None and not conn.is_closed():
                with contextlib.suppress(Exception):
                    await conn.close(timeout=2)

    def _lost(self, lost: asyncio.Event) -> None:
        # Called by asyncpg the moment the connection ends: tell at once, before any reconnect.
        lost.set()
        for callback in self.on_lost:
            callback()

    def _adapter(self, callback: Callback) -> Callable[..., None]:
        def on_notify(_conn: object, pid: int, _channel: str, payload: str) -> None:
            if pid not in self.own_pids:
                callback(payload)

        return on_notify


class Notifier(Worker):
    """This process's wake-ups, sent after the commit of the transaction that caused them.

    The database (`storage.db.notify`) hands over the notices queued on a connection when the
    connection goes back to the pool. Each is delivered at once to this process's own callbacks
    (the same ones the Listener calls), and then to the other hub processes by NOTIFY, from a
    connection of its own that commits without waiting for its WAL flush (a wake-up needs no
    durability), many notices in one statement. So no write transaction NOTIFYs (a NOTIFYing
    commit holds PostgreSQL's cluster-wide notify lock through its flush), and the Listener skips
    what this connection sent (already delivered here)."""

    name = "pg-notify"
    #: At most this many notices wait for the other processes; older ones are dropped first
    #: (wake-ups only: the long-polls and pages they were for still look on their own timers).
    MAX_WAITING = 50_000

    def __init__(self, url: str, channels: dict[str, Callback], listener: Listener) -> None:
        super().__init__()
        self.url = url
        self.channels = channels
        self.listener = listener
        self._waiting: dict[Notice, None] = {}
        self._ready = asyncio.Event()

    def send(self, notices: Sequence[Notice]) -> None:
        """The database's notice sink: deliver here now, and to the other processes soon."""
        for channel, payload in dict.fromkeys(notices):
            callback = self.channels.get(channel)
            if callback is not None:
                try:
                    callback(payload)
                except Exception:
                    log.exception("event=notice_callback_failed channel=%s", channel)
            self._waiting[(channel, payload)] = None
        while len(self._waiting) > self.MAX_WAITING:
            del self._waiting[next(iter(self._waiting))]
        self._ready.set()

    async def run(self) -> None:
        conn: asyncpg.Connection | None = None
        try:
            conn = await asyncpg.connect(
                self.url,
                server_settings={
                    "application_name": NOTIFY_APPLICATION_NAME,
                    "synchronous_commit": "off",
                },
            )
            pid = conn.get_server_pid()
            self.listener.own_pids.add(pid)
            try:
                self.recovered()
                while True:
                    await self._ready.wait()
                    self._ready.clear()
                    batch = list(self._waiting)
                    self._waiting.clear()
                    if not batch:
                        continue
                    try:
                        await conn.execute(
                            "SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS n(c, p)",
                            [c for c, _ in batch],
                            [p for _, p in batch],
                        )
                    except BaseException:
                        # Not sent: they go out with the next connection (newer ones kept first).
                        for notice in batch:
                            self._waiting.setdefault(notice, None)
                        self._ready.set()
                        raise
            finally:
                self.listener.own_pids.discard(pid)
        finally:
            if conn is not None and not conn.is_closed():
                with contextlib.suppress(Exception):
                    await conn.close(timeout=2)
