"""Waiting for an event with a time limit, without losing a cancellation.

`asyncio.wait_for(event.wait(), t)` on Python 3.11 can swallow a cancellation that arrives just as
the inner wait finishes (the task is "cancelling" but carries on): a background loop written with
it may then never stop, and a shut-down that waits for it hangs. `asyncio.timeout()` keeps the
cancellation and the time limit apart, so every loop of the hub waits with this instead."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any


async def wait_until(awaitable: Awaitable[object], timeout: float) -> bool:
    """Await `awaitable` for at most `timeout` seconds: True if it finished, False if the time ran
    out (it is then cancelled). A cancellation of the caller always propagates."""
    try:
        async with asyncio.timeout(max(timeout, 0.0)):
            await awaitable
    except TimeoutError:
        return False
    return True


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """True when `event` is set within `timeout` seconds, False when the time ran out."""
    if event.is_set():
        return True
    return await wait_until(event.wait(), timeout)


async def stop_task(task: asyncio.Task[Any], timeout: float) -> bool:
    """Cancel `task` and wait for it at most `timeout` seconds: False if it is still running then
    (it is left behind, for the caller to name), else True; an error it ended with is raised."""
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        return False
    with contextlib.suppress(asyncio.CancelledError):
        task.result()
    return True
