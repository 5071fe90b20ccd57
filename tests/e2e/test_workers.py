"""`axis serve --workers 2`: two hub processes under one supervisor share the port and the queues;
one killed with kill -9 in the middle of the load is started again and no letter is lost or
doubled; SIGTERM stops the supervisor and every hub process."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from axis.benchmarks.hub_load import process_tree
from tests.e2e.conftest import AxisRun
from tests.e2e.test_reliability import PULL, _finish_and_count, _pull_world, _send_with_trouble
from tests.support.waiting import wait_for


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[1])


def _hub_processes(supervisor: int) -> set[int]:
    """The supervisor's hub processes (its children that run the hub, not the resource tracker
    multiprocessing may start, nor the hub processes' own package-checking children)."""
    found = set()
    for pid in process_tree(supervisor):
        if pid == supervisor or _parent(pid) != supervisor:
            continue
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in argv and b"resource_tracker" not in argv:
            found.add(pid)
    return found


async def test_two_hub_processes_deliver_every_letter_once_when_one_is_killed(
    axis_run: AxisRun,
) -> None:
    run = axis_run
    await _pull_world(run)
    hub = run.hub(workers=2)
    await hub.start_ready()
    assert hub.proc is not None
    supervisor = hub.proc.pid
    first = await wait_for(
        lambda: len(_hub_processes(supervisor)) == 2 and _hub_processes(supervisor)
    )
    letters = run.letters(400, PULL)
    killed: list[int] = []

    async def kill_one_hub_process() -> None:
        victim = min(_hub_processes(supervisor))
        os.kill(victim, signal.SIGKILL)
        killed.append(victim)
        # The supervisor starts another in its place; the port never stopped answering.
        await wait_for(lambda: len(_hub_processes(supervisor) - {victim}) == 2, timeout=60)

    sender = await _send_with_trouble(run, letters, [hub.url], {150: kill_one_hub_process})
    assert killed and killed[0] in first
    assert sender.accepted >= 300, f"only {sender.accepted} accepted: {dict(sender.answers)}"
    await _finish_and_count(run, letters, [hub])
    assert "event=worker_exited" in hub.log_text()

    # SIGTERM: the supervisor stops both hub processes and exits cleanly.
    children = _hub_processes(supervisor)
    assert len(children) == 2
    every = set(process_tree(supervisor)) - {supervisor}  # the checking processes too
    await hub.stop(timeout=45)
    assert hub.proc.returncode == 0, hub.log_tail()
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)
    # A checking process leaves within a second of its hub (it watches for its parent).
    await wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in every), timeout=10)
