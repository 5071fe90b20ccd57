"""A background loop that waits for a wake-up with a time limit must stop when it is cancelled,
even when the wake-up and the cancellation arrive together (a shut-down that waits for such a loop
would otherwise hang; Python 3.11's `asyncio.wait_for` loses the cancellation then)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from axis.core.waits import wait_event, wait_until


async def _loop_stops_when_cancelled_as_it_is_woken(spins: int) -> bool:
    event = asyncio.Event()

    async def loop() -> None:
        while True:
            await wait_event(event, 10.0)
            event.clear()

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)
    event.set()
    for _ in range(spins):
        await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=1.0)
    if not done:
        task.cancel()
        return False
    return task.cancelled()


@pytest.mark.parametrize("spins", range(6))
async def test_a_loop_woken_and_cancelled_at_once_stops(spins: int) -> None:
    assert await _loop_stops_when_cancelled_as_it_is_woken(spins)


async def test_wait_event_says_whether_the_event_came_or_the_time_ran_out() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_event(event, 5.0) is True
    assert await wait_event(event, 0) is True  # already set: no wait at all


async def test_wait_until_cancels_what_it_waited_for_when_the_time_runs_out() -> None:
    never = asyncio.get_running_loop().create_future()
    assert await wait_until(never, 0.01) is False
    assert never.cancelled()


async def test_a_close_that_swallows_its_cancellation_holds_up_the_shut_down_one_step_only(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from axis import app

    monkeypatch.setattr(app, "SHUTDOWN_STEP_SECONDS", 0.2)
    release = asyncio.Event()
    cancels = 0

    async def stubborn_close() -> None:
        # Swallows the first cancellation, as a close that shields its own clean-up does.
        nonlocal cancels
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                cancels += 1
                if cancels > 1:
                    raise

    async with asyncio.timeout(5):  # with wait_for the step waited on here, until cancelled again
        await app._close_step("stubborn part", stubborn_close)
    assert "shutdown_step_stuck" in caplog.text and "stubborn part" in caplog.text
    await asyncio.sleep(0.01)
    assert cancels == 1  # told to stop once, and left behind still running
    release.set()
    await asyncio.sleep(0.01)


async def test_stop_task_leaves_behind_a_task_that_will_not_stop_and_raises_what_one_ended_with() -> (
    None
):
    from axis.core.waits import stop_task

    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()

    async def failing() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            raise ValueError("broken on the way out")

    left = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    assert await stop_task(left, 0.1) is False and not left.done()
    release.set()
    await left
    assert await stop_task(asyncio.create_task(asyncio.sleep(60)), 1.0) is True
    broken = asyncio.create_task(failing())
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="on the way out"):
        await stop_task(broken, 1.0)
