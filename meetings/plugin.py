"""How meetings/ joins the hub: the entry point `axis.plugins: meetings` (pyproject.toml) names
this object; the axis reads it without importing meetings/ by name."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from meetings.axis_port import Plugin

#: The queue the e-mail/SMS gateway reads (meetings.notices), after the hub's queue prefix.
GATEWAY_QUEUE = "cabinet.notify"


def setup(app: web.Application) -> None:
    from meetings import consultation_pages, consultations_web, pages
    from meetings import web as cabinet_web

    cabinet_web.setup_routes(app)
    consultations_web.setup_routes(app)
    pages.setup(app)
    consultation_pages.setup(app)


def commands() -> Sequence[Any]:
    from meetings import cli

    return [cli.cabinet, cli.meeting, cli.bench_group]


def openapi() -> dict[str, Any]:
    from meetings import openapi as described

    return described.contribution()


plugin = Plugin(
    name="meetings",
    setup=setup,
    migrations=Path(__file__).resolve().parent / "migrations",
    commands=commands,
    # Uploads stream into the blob store and count their own bytes (meetings.web.post_file); the
    # pages' upload forms may be as large as a package, form fields included.
    package_routes=frozenset(
        {
            "/v1/cabinet/files",
            "/cabinet/meetings/{id}/items/{item}/papers",
            "/cabinet/meetings/{id}/papers/{paper}/versions",
        }
    ),
    openapi=openapi,
    queues=frozenset({GATEWAY_QUEUE}),
)
