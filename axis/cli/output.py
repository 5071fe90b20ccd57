"""Shared output helpers for the CLI: JSON when piped or asked for, readable text on a terminal."""

from __future__ import annotations

import json
import sys
from typing import Any

import click


def wants_json(flag: bool) -> bool:
    return flag or not sys.stdout.isatty()


def emit(data: Any, *, as_json: bool, text: str | None = None) -> None:
    """Print `data` as JSON, or `text` (or a key: value rendering) for a person."""
    if wants_json(as_json):
        click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    elif text is not None:
        click.echo(text)
    elif isinstance(data, dict):
        width = max((len(str(k)) for k in data), default=0)
        for key, value in data.items():
            click.echo(f"{str(key).ljust(width)}  {value}")
    else:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def fail(message: str, code: int = 1) -> None:
    """One clear line on stderr, then exit with `code`."""
    click.echo(f"error: {message}", err=True)
    raise SystemExit(code)
