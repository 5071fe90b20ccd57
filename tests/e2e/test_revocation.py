"""Revoking an agency takes effect on every hub process at once.

Two hubs run as real processes over one database, each keeping tokens in memory for 60 s
(`AXIS_TOKEN_CACHE_SECONDS`), so that only the invalidation can explain a refusal within seconds.
The real `axis agency ...` commands change the agency from a process of their own; the very next
requests on both hubs must be refused, a long-poll already waiting must end with 401, and every
attempt made with the revoked credentials must fail cleanly and change nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import aiohttp
import asyncpg

from axis.config import PROJECT_ROOT
from tests.e2e.conftest import SENDER, AxisRun
from tests.support.hub_process import HubProcess

RECIPIENT = "000.00.00.H41"
#: Generous, yet far below the cache's 60 s: a refusal within it is the invalidation's doing.
DEADLINE = 3.0


async def _two_hubs(run: AxisRun) -> tuple[HubProcess, HubProcess]:
    run.env["AXIS_TOKEN_CACHE_SECONDS"] = "60"
    await run.register(SENDER)
    await run.register(RECIPIENT)
    hubs = run.hub("hub-a"), run.hub("hub-b")
    await asyncio.gather(*(hub.start_ready() for hub in hubs))
    return hubs


async def _axis(run: AxisRun, *args: str) -> str:
    """The real command line, in a process of its own, writing PostgreSQL directly."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AXIS_")}
    env.update(AXIS_DATABASE_URL=run.database_url, PYTHONPATH=str(PROJECT_ROOT))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "axis.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, f"axis {' '.join(args)}: {err.decode()}"
    return out.decode()


async def _status(session: aiohttp.ClientSession, url: str, token: str) -> int:
    async with session.get(
        url + "/v1/agencies", headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        return resp.status


async def _refused_within(
    session: aiohttp.ClientSession, url: str, token: str, seconds: float
) -> dict[str, Any]:
    """Ask again and again until the token is refused; the refusal's body, or a failure."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    asked = 0
    while True:
        async with session.get(
            url + "/v1/agencies", headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            asked += 1
            if resp.status == 401:
                body: dict[str, Any] = await resp.json()
                return body
            assert resp.status == 200, await resp.text()
        assert loop.time() < deadline, (
            f"{url} still accepts the token {seconds} s after the change ({asked} requests)"
        )
        await asyncio.sleep(0.02)


async def _documents(run: AxisRun) -> int:
    conn = await asyncpg.connect(run.database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM documents"))
    finally:
        await conn.close()


async def test_axis_agency_disable_refuses_the_token_on_every_hub_at_once_and_ends_its_long_poll(
    axis_run: AxisRun,
) -> None:
    a, b = await _two_hubs(axis_run)
    h41 = axis_run.agencies[RECIPIENT]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        # Both hubs now hold the token in memory, for 60 s.
        for hub in (a, b, a, b):
            assert await _status(session, hub.url, h41.token) == 200

        async def long_poll() -> tuple[int, dict[str, Any]]:
            async with session.get(
                b.url + "/v1/inbox",
                params={"wait": "30"},
                headers={"Authorization": f"Bearer {h41.token}"},
            ) as resp:
                return resp.status, await resp.json()

        waiting = asyncio.create_task(long_poll())
        await asyncio.sleep(0.3)  # let the long-poll start waiting on hub B
        assert not waiting.done()

        await _axis(axis_run, "agency", "disable", RECIPIENT)
        refusals = await asyncio.gather(
            _refused_within(session, b.url, h41.token, DEADLINE),
            _refused_within(session, a.url, h41.token, DEADLINE),
        )
        for refusal in refusals:
            assert refusal["error"]["code"] == "unauthorized"
            assert RECIPIENT in refusal["error"]["message"]
            assert "disabled" in refusal["error"]["message"]
        status, body = await asyncio.wait_for(waiting, DEADLINE)
        assert status == 401 and "disabled" in body["error"]["message"]

        # A hostile client keeps trying with the token: every call is refused, nothing changes.
        before = await _documents(axis_run)
        letter = axis_run.letters(1, [SENDER], sender=SENDER)[0]
        for hub in (a, b):
            async with session.post(
                hub.url + "/v1/documents",
                data=letter.data,
                headers={"Authorization": f"Bearer {h41.token}"},
            ) as resp:
                assert resp.status == 401
            async with session.get(
                hub.url + "/v1/inbox", headers={"Authorization": f"Bearer {h41.token}"}
            ) as resp:
                assert resp.status == 401
        assert await _documents(axis_run) == before

        # Enabled again, the same token works at once on both hubs.
        await _axis(axis_run, "agency", "enable", RECIPIENT)
        for hub in (a, b):
            assert await _status(session, hub.url, h41.token) == 200


async def test_axis_agency_rotate_token_retires_the_old_token_on_every_hub_at_once(
    axis_run: AxisRun,
) -> None:
    a, b = await _two_hubs(axis_run)
    g22 = axis_run.agencies[SENDER]
    old = g22.token
    letter = axis_run.letters(1, [RECIPIENT])[0]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        for hub in (a, b, a, b):
            assert await _status(session, hub.url, old) == 200

        new = json.loads(await _axis(axis_run, "agency", "rotate-token", SENDER, "--json"))["token"]
        assert new != old
        await asyncio.gather(
            _refused_within(session, a.url, old, DEADLINE),
            _refused_within(session, b.url, old, DEADLINE),
        )
        # The old token sends nothing; the new one works on both hubs.
        before = await _documents(axis_run)
        for hub in (a, b):
            async with session.post(
                hub.url + "/v1/documents",
                data=letter.data,
                headers={"Authorization": f"Bearer {old}"},
            ) as resp:
                assert resp.status == 401
        assert await _documents(axis_run) == before
        for hub in (a, b):
            assert await _status(session, hub.url, new) == 200
        async with session.post(
            b.url + "/v1/documents", data=letter.data, headers={"Authorization": f"Bearer {new}"}
        ) as resp:
            assert resp.status == 202, await resp.text()
        assert await _documents(axis_run) == before + 1
