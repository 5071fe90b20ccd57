"""`axis bench axis`: letters per second through the whole hub, end to end, beside raw RabbitMQ
measured in the same run; the work is in axis.benchmarks, this module only speaks CLI."""

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
    help="Senders posting at once (and publishers in the baseline).",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Hub processes (axis serve --workers).",
)
@click.option(
    "--timeout",
    default=600.0,
    show_default=True,
    type=click.FloatRange(min=1),
    help="Seconds allowed to each measured phase.",
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
    hub_log: Path | None,
    as_json: bool,
) -> None:
    """Letters and deliveries per second through a real hub, submit-to-inbox latency and the
    hub's peak memory, beside raw RabbitMQ (persistent publish with confirms, consume with acks)
    of as many messages, measured in the same run on the same broker.

    It needs the services of `make run` (PostgreSQL and RabbitMQ at AXIS_DATABASE_URL and
    AXIS_AMQP_URL) and touches none of their data: it makes a database axis_bench_<random>, a
    RabbitMQ vhost of the same name (or, without rabbitmqctl, a queue prefix), a temporary blob
    folder and development CA, registers one sender and the recipients, signs the letters, starts
    `axis serve` as a child process, and removes all of it at the end, on Ctrl-C too.

    \b
    Example: axis bench axis --docs 2000 --recipients 5 --size 10KB --concurrency 32
    """
    from axis.benchmarks.end_to_end import Options, render, run
    from axis.benchmarks.hub_load import HubFailed
    from axis.benchmarks.sandbox import SandboxError
    from axis.cli.main import load_config

    options = Options(docs, recipients, parse_size(size), concurrency, workers, timeout, hub_log)
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
    hub, baseline = result["hub"], result["baseline"]
    assert isinstance(hub, dict) and isinstance(baseline, dict)
    if not hub["complete"] or "error" in baseline:
        sys.exit(1)
