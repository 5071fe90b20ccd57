"""Request bodies: the one guard every route passes through, so that no body is ever decompressed
and none is read past the limit of its route, whatever the endpoint (/v1, /vdxp, the pages).

Bodies are taken only as sent: a `Content-Encoding` other than `identity` (or a transfer coding
other than `chunked`) is refused (415) before a byte of the body is read, so the size limit always
counts the bytes that travelled and a compressed "bomb" is never expanded. The server must run with
aiohttp's automatic decompression off (SERVER_SETTINGS): left on, aiohttp's parser starts inflating
a body, or refuses an encoding it cannot decode with a bare 400, before any middleware runs.
Each route has a byte limit: the size of a package where a package is sent, a few kilobytes for
every form and everything else. A declared `Content-Length` over it is refused at once (413); a
body without one (chunked) is counted while it streams and cut when it passes the limit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from axis.core.errors import AxisError, TooLarge

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Login, logout, recall and every other form carry a few short fields; 64 KiB is generous.
FORM_LIMIT = 64 * 1024
# A multipart upload wraps the package in part headers and boundaries.
MULTIPART_OVERHEAD = 64 * 1024

# The routes whose body is a signed edXML package, up to AXIS_MAX_DOCUMENT_BYTES.
PACKAGE_ROUTES = frozenset({"/v1/documents", "/v1/documents/{id}/status", "/vdxp/sendEdoc"})
# The pages' upload of a replacement package (multipart/form-data).
UPLOAD_ROUTES = frozenset({"/letters/{id}/replace"})

_PAGE_PREFIXES = ("/login", "/logout", "/letters/", "/static/")


# How the HTTP server must run (axis.server, and the tests' server): aiohttp's parser would otherwise
# start decompressing a body, or refuse an encoding it cannot decode, before any route or middleware.
SERVER_SETTINGS: dict[str, Any] = {"auto_decompress": False}


class UnsupportedEncoding(AxisError):
    code = "unsupported_encoding"


def body_limit(
    request: web.Request, max_document_bytes: int, package_routes: frozenset[str] = PACKAGE_ROUTES
) -> int:
    """The most bytes the route of `request` reads from a body."""
    resource = request.match_info.route.resource
    canonical = resource.canonical if resource is not None else ""
    if request.method == "POST" and canonical in package_routes:
        return max_document_bytes
    if request.method == "POST" and canonical in UPLOAD_ROUTES:
        return max_document_bytes + MULTIPART_OVERHEAD
    return FORM_LIMIT


def refused_encoding(request: web.Request) -> UnsupportedEncoding | None:
    """The refusal for a body sent compressed (any content coding but identity, any transfer
    coding but chunked, which aiohttp would pass on still compressed), or None."""
    for header, plain in (("Content-Encoding", "identity"), ("Transfer-Encoding", "chunked")):
        values = request.headers.getall(header, [])
        codings = [c.strip().lower() for value in values for c in value.split(",")]
        if all(c in ("", plain) for c in codings):
            continue
        named = ", ".join(values)
        shown = named if named.isascii() and named.isprintable() else ascii(named)
        return UnsupportedEncoding(
            f"the body is sent with {header} {shown[:60]}; the axis takes a body only as it is "
            "(identity): send it uncompressed",
            where=header,
        )
    return None


def too_large(limit: int, size: int | None = None) -> TooLarge:
    what = f"the body is {size} bytes" if size is not None else "the body is over the limit"
    return TooLarge(f"{what}; the limit here is {limit} bytes", where="body")


def surface(path: str) -> str:
    """Which of the axis's faces a path belongs to: each answers errors in its own format."""
    if path == "/vdxp" or path.startswith("/vdxp/"):
        return "vdxp"
    if path == "/" or path.startswith(_PAGE_PREFIXES):
        return "pages"
    return "api"


def answer(request: web.Request, exc: AxisError) -> web.StreamResponse:
    """`exc` in the format of the request's surface; the connection is not reused after it."""
    response: web.StreamResponse
    kind = surface(request.path)
    if kind == "vdxp":
        # VDXP answers every failure with HTTP 200 and status FAIL (see axis.adapters.vdxp.api).
        from axis.adapters.vdxp import protocol as p
        from axis.adapters.vdxp.api import refusal_of

        extra = {"DocId": ""} if request.path == "/vdxp/sendEdoc" else {}
        response = web.Response(
            body=p.dumps(p.failure(refusal_of(exc), **extra)),
            content_type="application/json",
            headers={"X-Vdxp-Status": "FAIL"},
        )
    elif kind == "pages":
        from axis.adapters.pages.views import error_page

        response = error_page(request, exc)
    else:
        from axis.adapters.api import error_response

        response = error_response(exc)
    # The rest of a refused body is never read: the client must not send another request after it.
    response.force_close()
    return response


def guard(max_document_bytes: int, more_package_routes: Iterable[str] = ()) -> Middleware:
    """The middleware: refuse compressed bodies and bodies over the route's limit.
    `more_package_routes` are plug-ins' POST routes that take a body as large as a package."""
    package_routes = PACKAGE_ROUTES | frozenset(more_package_routes)

    @web.middleware
    async def body_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.body_exists:
            return await handler(request)
        refusal = refused_encoding(request)
        if refusal is not None:
            return answer(request, refusal)
        limit = body_limit(request, max_document_bytes, package_routes)
        length = request.content_length
        if length is not None and length > limit:
            return answer(request, too_large(limit, length))
        if limit != request.client_max_size:
            # aiohttp's read(), text(), json() and post() stop at the request's client_max_size.
            request = request.clone(client_max_size=limit)
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            # Raised by aiohttp's readers while counting a body without Content-Length.
            return answer(request, too_large(limit))

    return body_guard
