"""`axis bench axis` as a newcomer runs it: a tiny run through the CLI against the real services."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys

import asyncpg

from tests.support.services import BASE_AMQP_URL, BASE_DATABASE_URL


def _run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AXIS_DATABASE_URL": BASE_DATABASE_URL,
        "AXIS_AMQP_URL": BASE_AMQP_URL,
        "AXIS_BENCH_ISOLATION": "prefix",  # no vhost churn on the shared test broker
    }
    return subprocess.run(
        [sys.executable, "-m", "axis.cli", "bench", "axis", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=280,
        check=False,
    )


def _vhosts() -> list[str]:
    listed = subprocess.run(
        [shutil.which("rabbitmqctl") or "rabbitmqctl", "list_vhosts", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return listed.stdout.split()


async def test_bench_axis_prints_every_figure_and_every_delivery_is_acknowledged() -> None:
    done = await asyncio.to_thread(
        _run_bench, "--docs", "20", "--recipients", "2", "--concurrency", "4", "--json"
    )

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    hub, baseline = result["hub"], result["baseline"]
    assert hub["complete"] is True, hub["first_problems"]
    assert hub["documents_accepted"] == 20
    assert hub["letters_delivered"] == 20
    assert hub["deliveries_acked"] == hub["deliveries_expected"] == 40
    for figure in ("letters_per_s", "documents_per_s", "deliveries_per_s"):
        assert hub[figure] > 0
    for latency in (
        "latency_submit_to_inbox_ms",
        "latency_submit_to_listed_ms",
        "latency_submit_to_202_ms",
    ):
        assert all(hub[latency][p] is not None for p in ("p50", "p95", "p99"))
    assert hub["peak_memory"]["total_mib"] > 0
    assert len(hub["load_average"]["before"]) == 3
    # The hub worked and the load generator too; every figure is there to say where the CPU went.
    cpu = hub["cpu"]
    assert cpu["hub_s"] > 0 and cpu["load_generator_s"] > 0 and cpu["hub_ms_per_letter"] > 0
    assert 0 < cpu["machine_busy_fraction"] <= 1 and cpu["others_ms_per_letter"] is not None
    # The bare broker carried the very same letters, one copy to each recipient's queue.
    assert baseline["letters"] == 20 and baseline["queues"] == 2 and baseline["messages"] == 40
    assert baseline["message_bytes"] == result["package_bytes"] > 10_000
    assert baseline["letters_per_s"] > 0
    rates = result["letters_per_s"]
    assert rates["hub"] == hub["letters_per_s"] and rates["broker"] == baseline["letters_per_s"]
    assert rates["ratio"] == result["ratio"] == round(rates["hub"] / rates["broker"], 4)
    assert len(result["machine"]["load_average"]) == 3

    # Nothing of the run is left behind: its database and its vhost are gone.
    name = result["sandbox"]["database"]
    if result["sandbox"]["rabbitmq"] == f"vhost {name}":
        assert name not in await asyncio.to_thread(_vhosts)
    admin = await asyncpg.connect(BASE_DATABASE_URL)
    try:
        left = await admin.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name)
    finally:
        await admin.close()
    assert left == 0


async def test_bench_axis_measures_an_empty_and_a_prefilled_database_in_one_run() -> None:
    done = await asyncio.to_thread(
        _run_bench,
        *("--docs", "10", "--recipients", "2", "--concurrency", "4"),
        *("--prefill", "3000", "--compare", "--json"),
    )

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["empty"]["complete"] is True and result["hub"]["complete"] is True
    assert result["empty"]["letters_delivered"] == result["hub"]["letters_delivered"] == 10
    prefill = result["prefill"]
    assert prefill["letters"] == 3000
    assert prefill["deliveries"] >= 3000 and prefill["audit_events"] >= 3000
    assert prefill["seconds"] > 0
    assert result["prefilled_vs_empty"] == round(
        result["hub"]["letters_per_s"] / result["empty"]["letters_per_s"], 4
    )


def test_compare_without_prefill_is_refused() -> None:
    done = _run_bench("--docs", "1", "--compare")
    assert done.returncode == 2
    assert "--compare" in done.stderr and "--prefill" in done.stderr
