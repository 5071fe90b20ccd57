"""`axis bench`: the group that holds each package's benchmark command."""

from __future__ import annotations

import click


@click.group()
def bench() -> None:
    """Benchmarks that print figures."""
