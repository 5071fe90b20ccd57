"""`axis bench axis` from start to end: sandbox, pre-signed letters, optionally a stored history,
the hub under load, then the bare broker carrying the same letters, and the figures side by side."""

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
from axis.benchmarks.prefill import prefill
from axis.benchmarks.sandbox import Progress, Sandbox, open_sandbox
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
    prefill: int = 0  # letters of history stored before the hub is measured
    compare: bool = False  # with prefill: measure the empty database first, in the same run


def _load() -> list[float]:
    """The machine's load averages over 1, 5 and 15 minutes."""
    return [round(x, 2) for x in os.getloadavg()]


async def _measure_hub(
    sandbox: Sandbox, options: Options, letters: list[bytes], progress: Progress, label: str
) -> dict[str, Any]:
    async with run_hub(sandbox, options.workers, progress) as hub:
        progress(
            f"{label}: hub ready; {options.concurrency} senders post {len(letters)} letters, "
            f"{options.recipients} recipients fetch and acknowledge them"
        )
        before = _load()
        figures = await drive(hub, sandbox, letters, options.concurrency, options.timeout)
        figures["load_average"] = {"before": before, "after": _load()}
        figures["peak_memory"] = hub.peak_memory()
    return figures


async def run(options: Options, base: Config, progress: Progress) -> dict[str, Any]:
    """Measure the hub (on an empty database, then after the prefill when comparing), then the
    bare broker carrying the same letters; every temporary thing is gone when this returns."""
    async with open_sandbox(base, options.recipients, progress) as sandbox:
        runs = 2 if options.compare and options.prefill else 1
        progress(
            f"signing {options.docs * runs} letters, each with a {options.size} B attachment "
            "(not part of the measurement)"
        )
        signing_started = time.perf_counter()
        letters = await asyncio.to_thread(sandbox.sign_letters, options.docs * runs, options.size)
        signing_seconds = time.perf_counter() - signing_started

        empty: dict[str, Any] | None = None
        history: dict[str, Any] | None = None
        if runs == 2:
            empty = await _measure_hub(
                sandbox, options, letters[options.docs :], progress, "empty database"
            )
        if options.prefill:
            progress(f"prefill: storing {options.prefill} letters of history")
            history = await prefill(sandbox, base, options.prefill, progress)
            progress(f"prefill: done in {history['seconds']} s")
        label = f"{options.prefill} letters stored" if options.prefill else "empty database"
        figures = await _measure_hub(sandbox, options, letters[: options.docs], progress, label)
        if options.hub_log is not None:
            shutil.copyfile(sandbox.log_path, options.hub_log)

        progress(
            f"baseline: the same {options.docs} letters through the bare broker to "
            f"{options.recipients} quorum queues"
        )
        load_before_baseline = _load()
        try:
            baseline = await broker_baseline.measure(
                sandbox.amqp_url,
                sandbox.queue_prefix,
                letters[: options.docs],
                options.recipients,
                options.timeout,
            )
        except Exception as exc:  # the hub's figures are worth printing all the same
            baseline = {"error": f"{type(exc).__name__}: {exc}"}
        else:
            baseline["load_average"] = {"before": load_before_baseline, "after": _load()}
        isolation = {"database": sandbox.name, "rabbitmq": sandbox.isolation}
        notes = list(sandbox.notes)
    progress("sandbox removed")

    hub_rate, base_rate = figures["letters_per_s"], baseline.get("letters_per_s")
    ratio = round(hub_rate / base_rate, 4) if hub_rate and base_rate else None
    notes.append(
        "a letter is fully delivered when every recipient has fetched and acknowledged it (the "
        "hub) or acked its copy (the bare broker, which publishes each letter once to all the "
        "recipients' queues); each acknowledgement also sends status 01 back to the sender "
        "through the hub, which the broker alone does not"
    )
    result: dict[str, Any] = {
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()},
        "package_bytes": round(sum(len(x) for x in letters) / len(letters)),
        "letters_per_s": {"hub": hub_rate, "broker": base_rate, "ratio": ratio},
        "ratio": ratio,
        "hub": figures,
        "baseline": baseline,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            # Other work on the machine skews every figure; the load averages say how much.
            "load_average": _load(),
            "load_generator": "this process, on the same machine as the hub and the services",
        },
        "signing_seconds": round(signing_seconds, 2),
        "sandbox": isolation,
        "notes": notes,
    }
    if history is not None:
        result["prefill"] = history
    if empty is not None:
        empty_rate = empty["letters_per_s"]
        result["empty"] = empty
        result["prefilled_vs_empty"] = (
            round(hub_rate / empty_rate, 4) if hub_rate and empty_rate else None
        )
    return result


def _ms(latency: dict[str, Any]) -> str:
    return f"p50 {latency['p50']} ms   p95 {latency['p95']} ms   p99 {latency['p99']} ms"


def _rate(value: float | None) -> str:
    return f"{value:>9.1f}/s" if value is not None else "        —  "


def _cpu(ms: float | None) -> str:
    return f"{ms:.1f} ms" if ms is not None else "—"


def _share(fraction: float | None) -> str:
    return f"{fraction:.0%}" if fraction is not None else "—"


def _hub_lines(hub: dict[str, Any]) -> list[str]:
    memory, cpu = hub["peak_memory"], hub["cpu"]
    lines = [
        f"  letters        {_rate(hub['letters_per_s'])}   {hub['letters_delivered']} fully "
        f"delivered (every recipient fetched and acked) in {hub['letters_seconds']:.2f} s",
        f"  deliveries     {_rate(hub['deliveries_per_s'])}   "
        f"{hub['deliveries_acked']}/{hub['deliveries_expected']} acked",
        f"  accepted       {_rate(hub['documents_per_s'])}   "
        f"{hub['documents_accepted']} letters got 202 in {hub['submit_seconds']:.2f} s",
        f"  submit→inbox   {_ms(hub['latency_submit_to_inbox_ms'])}",
        f"  submit→listed  {_ms(hub['latency_submit_to_listed_ms'])}   (the long-poll returned it)",
        f"  submit→202     {_ms(hub['latency_submit_to_202_ms'])}",
        f"  peak memory    {memory['total_mib']:.1f} MiB (VmHWM of {len(memory['processes'])} "
        "process(es))",
        f"  CPU per letter hub {_cpu(cpu['hub_ms_per_letter'])}, load generator "
        f"{_cpu(cpu['load_generator_ms_per_letter'])}, PostgreSQL "
        f"{_cpu(cpu['postgres_backends_ms_per_letter'])} + "
        f"{_cpu(cpu['postgres_shared_ms_per_letter'])} shared, RabbitMQ "
        f"{_cpu(cpu['rabbitmq_ms_per_letter'])}, the rest of the box "
        f"{_cpu(cpu['others_ms_per_letter'])}; machine busy {_share(cpu['machine_busy_fraction'])}",
        f"  machine load   {hub['load_average']['before']} before, "
        f"{hub['load_average']['after']} after (1, 5, 15 min)",
    ]
    if not hub["complete"]:
        lines.append(
            f"  INCOMPLETE: {hub['problems']} problem(s)"
            + (", timed out" if hub["timed_out"] else "")
        )
        lines += [f"    {p}" for p in hub["first_problems"]]
    return lines


def render(result: dict[str, Any]) -> str:
    """The figures for a person at a terminal."""
    o, hub, base = result["options"], result["hub"], result["baseline"]
    ratio = result["ratio"]
    lines = [
        f"{o['docs']} letters ({o['size']} B attachment, {result['package_bytes']} B signed) to "
        f"{o['recipients']} recipients; {o['concurrency']} senders; {o['workers']} hub "
        f"process(es); {result['machine']['cpus']} CPUs",
    ]
    if "empty" in result:
        lines.append("hub on an empty database:")
        lines += _hub_lines(result["empty"])
    if "prefill" in result:
        p = result["prefill"]
        lines.append(
            f"prefill: {p['letters']} letters, {p['deliveries']} deliveries, {p['statuses']} "
            f"statuses, {p['audit_events']} audit entries in {p['seconds']} s (write "
            f"{p['write_seconds']} s, chain {p['chain_seconds']} s, vacuum {p['vacuum_seconds']} s)"
        )
        lines.append(f"hub with {o['prefill']} letters stored:")
    else:
        lines.append("hub, end to end (HTTP submit, verify, store, route, deliver, fetch, ack):")
    lines += _hub_lines(hub)
    if "error" in base:
        lines.append(f"bare broker FAILED: {base['error']}")
    else:
        lines += [
            f"bare broker, same letters ({base['message_bytes']} B, persistent, one publish to "
            f"{base['queues']} quorum queues, confirms with {base['in_flight']} in flight, one "
            "consumer per queue acking):",
            f"  letters        {_rate(base['letters_per_s'])}   publish alone "
            f"{base['publish_per_s']:.1f}/s",
            f"  publish→acked  {_ms(base['latency_publish_to_all_acked_ms'])}",
        ]
    lines.append(
        "hub letters ÷ broker letters: "
        + (f"{ratio:.4f} ({ratio:.2%})" if ratio is not None else "—")
    )
    if "prefilled_vs_empty" in result:
        change = result["prefilled_vs_empty"]
        lines.append(
            "hub letters, prefilled ÷ empty: " + (f"{change:.3f}" if change is not None else "—")
        )
    lines += [f"note: {n}" for n in result["notes"]]
    return "\n".join(lines)
