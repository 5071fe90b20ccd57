"""`axis bench meetings` as a newcomer runs it: a tiny run through the CLI against the real services
(a sandbox of its own, a real `axis serve`), every figure present and sane; no timing asserted."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys

import asyncpg

from storage.db import with_database
from tests.support.services import BASE_AMQP_URL, BASE_DATABASE_URL


def _run_bench(*args: str, group: str = "meetings") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AXIS_DATABASE_URL": BASE_DATABASE_URL,
        "AXIS_AMQP_URL": BASE_AMQP_URL,
        "AXIS_BENCH_ISOLATION": "prefix",
    }
    return subprocess.run(
        [sys.executable, "-m", "axis.cli", "bench", group, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=280,
        check=False,
    )


async def _sandbox_left(stderr: str) -> bool:
    """Whether the run's own sandbox database (named in its progress lines) is still there: other
    runs' sandboxes may come and go meanwhile on a shared machine."""
    found = re.search(r"creating database (axis_bench_[0-9a-f]+)", stderr)
    assert found, stderr
    conn = await asyncpg.connect(with_database(BASE_DATABASE_URL, "postgres"))
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", found[1]))
    finally:
        await conn.close()


async def test_bench_meetings_prints_every_figure_after_every_member_got_the_whole_packet() -> None:
    done = await asyncio.to_thread(
        _run_bench, "--papers", "5", "--total-mb", "2", "--members", "3", "--json"
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == {
        "papers", "total_bytes", "members", "seconds", "mb_per_s", "baseline_mb_per_s", "ratio",
        "page_cache_mb_per_s", "hub_rss_growth_mb",
    }  # fmt: skip
    assert result["page_cache_mb_per_s"] > 0
    assert result["papers"] == 5 and result["members"] == 3
    assert result["total_bytes"] == 2 * 1024 * 1024
    assert result["seconds"] > 0 and result["mb_per_s"] > 0 and result["baseline_mb_per_s"] > 0
    # The ratio is of the unrounded figures: close to the printed ones' quotient.
    quotient = result["mb_per_s"] / result["baseline_mb_per_s"]
    assert abs(result["ratio"] - quotient) <= 0.05 * quotient + 0.01
    assert 0 <= result["hub_rss_growth_mb"] < 2000
    # The sandbox is gone with the run.
    assert not await _sandbox_left(done.stderr)


async def test_bench_meetings_refuses_nonsense_sizes_before_making_anything() -> None:
    done = await asyncio.to_thread(_run_bench, "--papers", "0", "--json")
    assert done.returncode == 2 and "--papers" in done.stderr


async def test_bench_consultations_prints_every_figure_after_every_ballot_was_taken() -> None:
    done = await asyncio.to_thread(
        _run_bench, "--ballots", "45", "--members", "3", "--json", group="consultations"
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == {
        "ballots", "members", "seconds", "ballots_per_s", "tally_seconds",
        "baseline_verify_per_s", "ratio", "hub_rss_growth_mb",
    }  # fmt: skip
    assert result["ballots"] == 45 and result["members"] == 3
    assert result["seconds"] > 0 and result["ballots_per_s"] > 0 and result["tally_seconds"] > 0
    quotient = result["ballots_per_s"] / result["baseline_verify_per_s"]
    assert abs(result["ratio"] - quotient) <= 0.05 * quotient + 0.01
    assert 0 <= result["hub_rss_growth_mb"] < 2000
    assert not await _sandbox_left(done.stderr)
