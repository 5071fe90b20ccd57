"""PostgreSQL LISTEN/NOTIFY on a dedicated connection that comes back after the server restarts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

log = logging.getLogger("axis.notify")

Callback = Callable[[str], None]
#: How the LISTEN connection shows in pg_stat_activity.
APPLICATION_NAME = "axis-listen"


class Listener:
    """Calls back on notifications; after a reconnect every callback gets "*" (something may be
    missed). `on_lost` callbacks run as soon as the connection is known to be gone, for whoever
    must stop trusting what it keeps in memory until the "*" comes."""

    def __init__(
        self,
        url: str,
        channels: dict[str, Callback],
        on_lost: list[Callable[[], None]] | None = None,
    ) -> None:
        self.url = url
        self.channels = channels
        self.on_lost = on_lost or []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pg-listen")

    async def _run(self) -> None:
        delay = 0.5
        while True:
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
                delay = 0.5
                while not lost.is_set():
                    # A quiet connection can die without a termination event; probe it now and then.
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(lost.wait(), 5.0)
                    if not lost.is_set():
                        await asyncio.wait_for(conn.fetchval("SELECT 1"), 5.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "event=listen_lost retry_in=%.1fs error=%r",
                    delay,
                    f"{type(exc).__name__}: {exc}",
                )
            finally:
                for lost_callback in self.on_lost:
                    lost_callback()
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=2)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 15.0)

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

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
