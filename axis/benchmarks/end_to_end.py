"""`axis bench axis` from start to end: sandbox, pre-signed letters, the hub under load, then the
raw RabbitMQ baseline on the same broker, and the figures of both side by side."""

from __future__ import annotations

import asyncio
import os
import platform
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from axis.benchmarks import broker_baseline
from axis.benchmarks.hub_load import drive, run_hub
from axis.benchmarks.sandbox import Progress, open_sandbox
from axis.config import Config


@dataclass(frozen=True)
class Options:
    docs: int
    recipients: int
    size: int  # bytes of the one attachment of each letter
    concurrency: int
    workers: int
    timeout: float  # seconds allowed to each measured phase
    hub_log: Path | None = None  # where to keep the hub's log; it goes with the sandbox otherwise


async def run(options: Options, base: Config, progress: Progress) -> dict[str, Any]:
    """Measure the hub, then the baseline; every temporary thing is gone when this returns."""
    async with open_sandbox(base, options.recipients, progress) as sandbox:
        progress(
            f"signing {options.docs} letters, each with a {options.size} B attachment "
            "(not part of the measurement)"
        )
        signing_started = time.perf_counter()
        letters = await asyncio.to_thread(sandbox.sign_letters, options.docs, options.size)
        signing_seconds = time.perf_counter() - signing_started

        async with run_hub(sandbox, options.workers, progress) as hub:
            progress(
                f"hub ready; {options.concurrency} senders post {options.docs} letters, "
                f"{options.recipients} recipients fetch and acknowledge them"
            )
            load_before = os.getloadavg()[0]
            figures = await drive(hub, sandbox, letters, options.concurrency, options.timeout)
            load_after = os.getloadavg()[0]
            figures["peak_memory"] = hub.peak_memory()
        if options.hub_log is not None:
            shutil.copyfile(sandbox.log_path, options.hub_log)

        progress(
            f"baseline: {options.docs * options.recipients} persistent notices through raw "
            "RabbitMQ on the same broker"
        )
        try:
            baseline = await broker_baseline.measure(
                sandbox.amqp_url,
                sandbox.queue_prefix,
                options.recipients,
                options.docs,
                options.concurrency,
                options.timeout,
            )
        except Exception as exc:  # the hub's figures are worth printing all the same
            baseline = {"error": f"{type(exc).__name__}: {exc}"}
        isolation = {"database": sandbox.name, "rabbitmq": sandbox.isolation}
        notes = list(sandbox.notes)
    progress("sandbox removed")

    hub_rate, base_rate = figures["deliveries_per_s"], baseline.get("messages_per_s")
    ratio = round(hub_rate / base_rate, 4) if hub_rate and base_rate else None
    notes.append(
        "each acknowledgment also sends status 01 (arrived) back to the sender through the same "
        "outbox, broker and dispatcher, so the hub moves two notices per delivery; the baseline "
        "moves one"
    )
    return {
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()},
        "package_bytes": round(sum(len(x) for x in letters) / len(letters)),
        "hub": figures,
        "baseline": baseline,
        "ratio": ratio,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            # Other work on the machine skews every figure; the 1-minute load says how much.
            "load_average_1min": {"before": round(load_before, 2), "after": round(load_after, 2)},
            "load_generator": "this process, on the same machine as the hub and the services",
        },
        "signing_seconds": round(signing_seconds, 2),
        "sandbox": isolation,
        "notes": notes,
    }


def render(result: dict[str, Any]) -> str:
    """The figures for a person at a terminal."""
    o, hub, base = result["options"], result["hub"], result["baseline"]
    lat, listed = hub["latency_submit_to_inbox_ms"], hub["latency_submit_to_listed_ms"]
    accept = hub["latency_submit_to_202_ms"]
    memory = hub["peak_memory"]
    ratio = result["ratio"]

    def rate(value: float | None) -> str:
        return f"{value:>9.1f}/s" if value is not None else "        —  "

    lines = [
        f"{o['docs']} letters ({o['size']} B attachment, {result['package_bytes']} B signed) to "
        f"{o['recipients']} recipients; {o['concurrency']} senders; {o['workers']} hub worker(s); "
        f"{result['machine']['cpus']} CPUs (load {result['machine']['load_average_1min']['before']}"
        f" before the hub run)",
        "hub, end to end (HTTP submit, verify, store, route, deliver, fetch, ack):",
        f"  documents      {rate(hub['documents_per_s'])}   "
        f"{hub['documents_accepted']} accepted in {hub['submit_seconds']:.2f} s",
        f"  deliveries     {rate(hub['deliveries_per_s'])}   "
        f"{hub['deliveries_acked']}/{hub['deliveries_expected']} acked in "
        f"{hub['delivery_seconds']:.2f} s",
        f"  submit→inbox   p50 {lat['p50']} ms   p95 {lat['p95']} ms   p99 {lat['p99']} ms   "
        f"max {lat['max']} ms",
        f"  submit→listed  p50 {listed['p50']} ms   p95 {listed['p95']} ms   "
        f"p99 {listed['p99']} ms   (when the recipient's long-poll returned it)",
        f"  submit→202     p50 {accept['p50']} ms   p95 {accept['p95']} ms   "
        f"p99 {accept['p99']} ms",
        f"  peak memory    {memory['total_mib']:.1f} MiB (VmHWM of {len(memory['processes'])} "
        "process(es))",
    ]
    if "error" in base:
        lines.append(f"raw RabbitMQ baseline FAILED: {base['error']}")
    else:
        lines += [
            f"raw RabbitMQ, same broker ({base['messages']} persistent {base['message_bytes']} B "
            f"notices, {base['queues']} quorum queues, confirms and acks):",
            f"  messages       {rate(base['messages_per_s'])}   publish alone "
            f"{base['publish_per_s']:.1f}/s",
        ]
    lines += [
        "hub deliveries ÷ baseline messages: "
        + (f"{ratio:.3f} ({ratio:.1%})" if ratio is not None else "—"),
    ]
    if not hub["complete"]:
        lines.append(
            f"INCOMPLETE: {hub['problems']} problem(s)"
            + (", timed out" if hub["timed_out"] else "")
        )
        lines += [f"  {p}" for p in hub["first_problems"]]
    lines += [f"note: {n}" for n in result["notes"]]
    return "\n".join(lines)
