"""Who is looking at a page: the session cookie, the CSRF token every POST must carry, and the
wrapper that gives each page handler its user (the /v1 API's bearer tokens play no part here)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import web

from axis.adapters.api import HUB
from axis.core import agencies, users
from axis.core.agencies import Agency
from axis.hub import Hub

SESSION_COOKIE = "axis_session"
LOGIN_CSRF_COOKIE = "axis_login_csrf"
CSRF_FIELD = "csrf_token"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Clerk:
    """The logged-in user of a request, with the agency they act for."""

    user: users.User
    session: users.Session
    agency: Agency

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token


CLERK = web.RequestKey("axis_pages_clerk", Clerk)


def clerk_of(request: web.Request) -> Clerk:
    return request[CLERK]


def is_https(request: web.Request) -> bool:
    # Behind a TLS-terminating proxy the hub sees http; AXIS_PUBLIC_URL says how people reach it.
    return request.secure or request.app[HUB].config.public_url.startswith("https://")


def see_other(location: str) -> web.Response:
    """A 303 to answer with (not raise) when cookies must go with it."""
    return web.Response(status=303, headers={"Location": location})


def set_cookie(
    request: web.Request,
    response: web.StreamResponse,
    name: str,
    value: str,
    *,
    max_age: int | None = None,
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=is_https(request),
    )


def clear_cookie(request: web.Request, response: web.StreamResponse, name: str) -> None:
    response.del_cookie(name, path="/", secure=is_https(request), httponly=True, samesite="Lax")


def new_login_csrf() -> str:
    return secrets.token_urlsafe(32)


async def current_clerk(request: web.Request) -> Clerk | None:
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        return None
    hub: Hub = request.app[HUB]
    async with hub.db.connection() as conn:
        found = await users.session_user(conn, token)
        if found is None:
            return None
        user, session = found
        agency = await agencies.get(conn, user.organ_id)
    return Clerk(user, session, agency)


class CsrfRefused(Exception):
    """A POST without the session's CSRF token (or with another one)."""


async def check_csrf(request: web.Request, expected: str) -> None:
    form = await request.post()
    given = form.get(CSRF_FIELD)
    if not isinstance(given, str) or not users.same_token(expected, given):
        raise CsrfRefused


def clerk_page(
    handler: Handler, *, on_refused: Callable[[web.Request, int, str], web.StreamResponse]
) -> Handler:
    """Run `handler` for a logged-in clerk only: a GET without a session goes to /login, a POST
    without one, or without the session's CSRF token, is refused (403)."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        clerk = await current_clerk(request)
        if clerk is None:
            if request.method == "GET":
                target = request.path_qs
                raise web.HTTPSeeOther("/login?next=" + quote(target, safe=""))
            return on_refused(request, 403, "session")
        if request.method == "POST":
            try:
                await check_csrf(request, clerk.csrf_token)
            except CsrfRefused:
                return on_refused(request, 403, "csrf")
        request[CLERK] = clerk
        return await handler(request)

    return wrapped


def safe_next(value: Any) -> str:
    """Where to go after logging in: a path on this site only (no //host, no scheme)."""
    if (
        isinstance(value, str)
        and value.startswith("/")
        and not value.startswith("//")
        and "\\" not in value
        and value.isprintable()
        and not value.startswith("/login")
    ):
        return value
    return "/letters/received"
