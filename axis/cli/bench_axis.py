"""`axis bench axis`: letters per second through the whole hub, end to end, beside the bare broker
carrying the same letters in the same run; the work is in axis.benchmarks, this module only
speaks CLI."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import click

from axis.cli.doc import parse_size
from axis.cli.output import emit, fail


def _progress(message: str) -> None:
    click.echo(f"axis bench: {message}", err=True)


#: The hub processes a benchmark starts (its own and the eCabinet plug-in's benchmarks).
WORKERS_OPTION = click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Hub processes (axis serve --workers).",
)


@click.command("axis")
@click.option("--docs", default=500, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--recipients",
    default=3,
    show_default=True,
    type=click.IntRange(1, 500),
    help="Pull agencies every letter is addressed to.",
)
@click.option(
    "--size", default="10000", show_default=True, help="Bytes of each letter's attachment."
)
@click.option(
    "--concurrency",
    default=16,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Senders posting at once.",
)
@WORKERS_OPTION
@click.option(
    "--timeout",
    default=600.0,
    show_default=True,
    type=click.FloatRange(min=1),
    help="Seconds allowed to each measured phase.",
)
@click.option(
    "--prefill",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Store this many letters of history (in bulk, straight into the tables) before measuring.",
)
@click.option(
    "--compare",
    is_flag=True,
    help="With --prefill: measure the empty database first, then the prefilled one, in one run.",
)
@click.option(
    "--hub-log",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Keep the hub's log (JSON lines, one per request) in this file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def axis_bench(
    docs: int,
    recipients: int,
    size: str,
    concurrency: int,
    workers: int,
    timeout: float,
    prefill: int,
    compare: bool,
    hub_log: Path | None,
    as_json: bool,
) -> None:
    """Letters fully delivered per second through a real hub (every recipient fetched and
    acknowledged), beside the bare broker carrying the same signed letters to as many quorum
    queues (persistent, publisher confirms, consumer acks), measured in the same run on the same
    broker, and their ratio; submit→inbox, submit→listed and submit→202 latencies (p50, p95,
    p99), the hub's peak memory and the machine's load.

    With --prefill N it first stores N letters of history (a year of them, mixed states, many
    agencies; 1,000,000 took 28 minutes on a busy 2-core box) and then measures; add --compare to
    measure an empty database first in the same run and print both.

    It needs the services of `make run` (PostgreSQL and RabbitMQ at AXIS_DATABASE_URL and
    AXIS_AMQP_URL) and touches none of their data: it makes a database axis_bench_<random>, a
    RabbitMQ vhost of the same name (or, without rabbitmqctl, a queue prefix), a temporary blob
    folder and development CA, registers one sender and the recipients, signs the letters, starts
    `axis serve` as a child process, and removes all of it at the end, on Ctrl-C too.

    \b
    Example: axis bench axis --docs 3000 --recipients 3 --size 10000
             axis bench axis --docs 3000 --prefill 1000000 --compare
    """
    from axis.benchmarks.end_to_end import Options, render, run
    from axis.benchmarks.hub_load import HubFailed
    from axis.benchmarks.sandbox import SandboxError
    from axis.cli.main import load_config

    if compare and not prefill:
        raise click.UsageError("--compare compares with a prefilled database: give --prefill N")
    options = Options(
        docs,
        recipients,
        parse_size(size),
        concurrency,
        workers,
        timeout,
        hub_log,
        prefill=prefill,
        compare=compare,
    )
    base = load_config()

    async def main() -> dict[str, object]:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await run(options, base, _progress)

    try:
        result = asyncio.run(main())
    except (SandboxError, HubFailed) as exc:
        fail(str(exc))
        return
    except (KeyboardInterrupt, asyncio.CancelledError):
        fail("interrupted; the sandbox was removed", code=130)
        return
    emit(result, as_json=as_json, text=render(result))
    hubs = [result["hub"], result.get("empty", {"complete": True})]
    baseline = result["baseline"]
    assert isinstance(baseline, dict)
    if not all(isinstance(h, dict) and h["complete"] for h in hubs) or "error" in baseline:
        sys.exit(1)
