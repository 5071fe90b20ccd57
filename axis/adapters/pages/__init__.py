"""The clerks' pages: server-rendered HTML (jinja2) for the letters an agency sent and received,
each letter's timeline updated live over server-sent events, and the recall and replace actions."""

from __future__ import annotations

import logging

from aiohttp import web

from axis.adapters.pages import views
from axis.adapters.pages.auth import Handler, clerk_page
from axis.adapters.pages.live import Live
from axis.adapters.pages.render import HERE, environment
from axis.adapters.pages.views import LIVE, TEMPLATES
from axis.core.errors import AxisError
from storage.db import DatabaseUnavailable

log = logging.getLogger("axis.pages")

__all__ = ["LIVE", "setup"]


def guarded(handler: Handler) -> Handler:
    """Errors of the axis become HTML pages here (the app's own middleware answers JSON)."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except AxisError as exc:
            return views.error_page(request, exc)
        except DatabaseUnavailable:
            return views.render(
                request,
                "error.html",
                status=503,
                title_vi="Hệ thống tạm thời không sẵn sàng",
                title_en="The axis is unavailable for a moment",
                detail="PostgreSQL không trả lời / PostgreSQL does not answer",
            )

    return wrapped


def _clerk(handler: Handler) -> Handler:
    return guarded(clerk_page(handler, on_refused=views.refused))


def setup(app: web.Application) -> None:
    """Add the pages' routes and their in-process resources to the app."""
    app[TEMPLATES] = environment()
    live = Live()
    app[LIVE] = live

    async def close_streams(_app: web.Application) -> None:
        live.close()

    app.on_shutdown.append(close_streams)
    r = app.router
    r.add_get("/", guarded(views.home))
    r.add_get("/login", guarded(views.login_page))
    r.add_post("/login", guarded(views.login_submit))
    r.add_post("/logout", _clerk(views.logout))
    r.add_get("/letters/received", _clerk(views.received))
    r.add_get("/letters/sent", _clerk(views.sent))
    r.add_get("/letters/{id}", _clerk(views.letter))
    r.add_get("/letters/{id}/events", _clerk(views.letter_events))
    r.add_get("/letters/{id}/edxml", _clerk(views.edxml))
    r.add_get("/letters/{id}/attachments/{position}", _clerk(views.attachment))
    r.add_post("/letters/{id}/recall", _clerk(views.recall))
    r.add_post("/letters/{id}/replace", _clerk(views.replace))
    r.add_static("/static/axis/", HERE / "static", name="axis_static")
