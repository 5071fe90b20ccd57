"""One small base for the hub's background loops: start, a bounded close, capped back-off with
jitter after a failure, and one log event per failure and one on recovery.

A worker's `run()` is its whole loop. When it raises, the supervisor logs
`event=worker_failed`, waits a growing delay and calls `run()` again; once the worker has done
a good pass it calls `recovered()`, which logs `event=worker_recovered` (after failures only) and
starts the back-off over from its floor.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

from axis.core.waits import stop_task, wait_event

log = logging.getLogger("axis.worker")

#: Our own generator: the jitter neither draws from nor disturbs the global `random` state.
_jitter = random.Random()

MIN_DELAY = 0.5
MAX_DELAY = 15.0
CLOSE_TIMEOUT = 10.0


def backoff(failures: int, *, floor: float = MIN_DELAY, cap: float = MAX_DELAY) -> float:
    """The pause after the `failures`-th failure in a row: doubling from `floor`, never above `cap`,
    and drawn from its upper half so that hub processes failing together do not retry in step."""
    ceiling = min(cap, floor * 2 ** max(failures - 1, 0))
    return _jitter.uniform(ceiling / 2, ceiling)


class Worker:
    """A supervised background loop; subclasses write `run()` and call `recovered()` after a good pass."""

    #: Task name and the `worker=` field of the log events.
    name = "worker"
    min_delay = MIN_DELAY
    max_delay = MAX_DELAY

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self.failures = 0
        self.last_error: str | None = None
        self._failing_since: float | None = None

    # ------------------------------------------------------------ for subclasses

    async def run(self) -> None:
        raise NotImplementedError

    def failed(self, exc: BaseException) -> None:
        """Called on each failure before the pause (e.g. to drop a broken channel)."""

    async def pause(self, delay: float) -> None:
        """Wait before the next try; a worker that can tell when what failed is back may cut it short."""
        await asyncio.sleep(delay)

    def recovered(self) -> None:
        """A pass went well: log the recovery once and start the back-off over."""
        if self.failures:
            down = time.monotonic() - (self._failing_since or time.monotonic())
            log.info(
                "event=worker_recovered worker=%s failures=%d down_for=%.1fs",
                self.name,
                self.failures,
                down,
            )
        self.failures = 0
        self.last_error = None
        self._failing_since = None

    # ------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._supervise(), name=self.name)

    async def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Cancel the loop and wait for it, at most `timeout` seconds (a stuck loop is named)."""
        task, self._task = self._task, None
        if task is None:
            return
        if not await stop_task(task, timeout):
            log.error("event=worker_close_stuck worker=%s seconds=%s", self.name, timeout)

    async def _supervise(self) -> None:
        while True:
            try:
                await self.run()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failures += 1
                if self._failing_since is None:
                    self._failing_since = time.monotonic()
                self.last_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                delay = backoff(self.failures, floor=self.min_delay, cap=self.max_delay)
                log.warning(
                    "event=worker_failed worker=%s attempt=%d retry_in=%.1fs error=%r",
                    self.name,
                    self.failures,
                    delay,
                    self.last_error,
                )
                self.failed(exc)
                await self.pause(delay)


class PeriodicWorker(Worker):
    """A worker that does `tick()` every `interval` seconds (or sooner when woken)."""

    interval = 1.0
    #: Wait before the first tick (the sweepers look for what others left behind, so not at once).
    first_wait = False

    def __init__(self) -> None:
        super().__init__()
        self._wake = asyncio.Event()

    def wake(self, _payload: str = "") -> None:
        self._wake.set()

    async def tick(self) -> None:
        raise NotImplementedError

    async def wait(self) -> None:
        await wait_event(self._wake, self.interval)
        self._wake.clear()

    async def run(self) -> None:
        if self.first_wait:
            await self.wait()
        while True:
            await self.tick()
            self.recovered()
            await self.wait()
