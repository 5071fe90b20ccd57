"""PostgreSQL LISTEN/NOTIFY on a dedicated connection that comes back after the server restarts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

from axis.core.waits import wait_event
from axis.workers.worker import Worker

log = logging.getLogger("axis.notify")

Callback = Callable[[str], None]
#: How the LISTEN connection shows in pg_stat_activity.
APPLICATION_NAME = "axis-listen"


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

    @staticmethod
    def _adapter(callback: Callback) -> Callable[..., None]:
        def on_notify(_conn: object, _pid: int, _channel: str, payload: str) -> None:
            callback(payload)

        return on_notify
