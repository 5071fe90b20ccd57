"""The clerks' page handlers: they read the request, call the axis's service functions and render."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any
from urllib.parse import quote

import jinja2
from aiohttp import web

import edoc
from axis.adapters.api import HUB, stream_blob
from axis.adapters.bodies import UnsupportedEncoding
from axis.adapters.pages.auth import (
    CLERK,
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Clerk,
    clear_cookie,
    clerk_of,
    current_clerk,
    new_login_csrf,
    safe_next,
    see_other,
    set_cookie,
)
from axis.adapters.pages.live import Live
from axis.core import delivery, ingest, ledger, repo, statuses, users
from axis.core.errors import (
    AxisError,
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    StoredBytesLost,
    TooLarge,
    Unauthorized,
    Unprocessable,
)
from axis.core.ids import parse_id
from axis.core.ledger import lists
from axis.core.ledger.rules import is_overdue
from axis.hub import Hub

log = logging.getLogger("axis.pages")

TEMPLATES = web.AppKey("page_templates", jinja2.Environment)
LIVE = web.AppKey("page_live", Live)

HEARTBEAT = 15.0

DONE = {
    "recall": (
        "Đã gửi đề nghị lấy lại văn bản (13) tới các nơi nhận.",
        "The recall request (13) went to every recipient.",
    ),
    "replace": (
        "Văn bản thay thế đã được trục tiếp nhận và chuyển đi.",
        "The replacement was accepted by the axis and is on its way.",
    ),
    "logout": ("Đã đăng xuất.", "You are logged out."),
}

REFUSALS = {
    "csrf": (
        "Biểu mẫu đã hết hạn hoặc không hợp lệ; hãy tải lại trang và thử lại.",
        "The form expired or is not valid; reload the page and try again.",
    ),
    "session": (
        "Phiên làm việc đã hết; hãy đăng nhập lại.",
        "Your session has ended; please log in again.",
    ),
}

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    env = request.app[TEMPLATES]
    context.setdefault("clerk", request.get(CLERK))
    context.setdefault("csrf_field", CSRF_FIELD)
    context.setdefault("path", request.path)
    html = env.get_template(template).render(**context)
    return web.Response(
        text=html,
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers=SECURITY_HEADERS,
    )


def refused(request: web.Request, status: int, why: str) -> web.StreamResponse:
    vi, en = REFUSALS.get(why, ("Không được phép.", "Not allowed."))
    return render(request, "error.html", status=status, title_vi=vi, title_en=en, detail=None)


_REFUSED = ("Không thực hiện được", "The request was refused")

#: The pages' one table from the axis's errors to an HTTP status and a title in Vietnamese and
#: English (a subclass takes its nearest base's). Stored bytes that cannot be read are the axis's
#: failure: 500, as on /v1 and (ErrorCode 99) on /vdxp.
PAGES: dict[type[AxisError], tuple[int, str, str]] = {
    BadRequest: (400, *_REFUSED),
    Unauthorized: (401, *_REFUSED),
    Forbidden: (403, "Không được phép", "Not allowed"),
    NotFound: (404, "Không tìm thấy", "Not found"),
    Conflict: (409, "Không thực hiện được", "Conflict"),
    Gone: (410, *_REFUSED),
    TooLarge: (413, "Nội dung gửi lên quá lớn", "What was sent is too large"),
    UnsupportedEncoding: (415, "Nội dung nén không được nhận", "Compressed content is refused"),
    Unprocessable: (422, *_REFUSED),
    StoredBytesLost: (
        500,
        "Không đọc được văn bản đã lưu; quản trị viên đã được báo",
        "The stored document cannot be read; the operators are alerted",
    ),
}


def error_page(request: web.Request, exc: AxisError) -> web.Response:
    from axis.adapters.api import http_status

    found = next((PAGES[c] for c in type(exc).__mro__ if c in PAGES), None)
    status, vi, en = found or (http_status(exc), *_REFUSED)
    return render(
        request, "error.html", status=status, title_vi=vi, title_en=en, detail=exc.message
    )


def hub_of(request: web.Request) -> Hub:
    return request.app[HUB]


# ---------------------------------------------------------------- logging in and out


async def home(request: web.Request) -> web.StreamResponse:
    if await current_clerk(request) is not None:
        raise web.HTTPSeeOther("/letters/received")
    # A cabinet person sees no letters: their start is the plug-in's pages, as after logging in.
    async with hub_of(request).db.connection() as conn:
        cabinet = await users.session_user(
            conn, request.cookies.get(SESSION_COOKIE, ""), roles=(users.CABINET,)
        )
    raise web.HTTPSeeOther("/cabinet" if cabinet is not None else "/login")


def _login_form(
    request: web.Request,
    *,
    status: int = 200,
    error: tuple[str, str] | None = None,
    login: str = "",
) -> web.Response:
    token = new_login_csrf()
    response = render(
        request,
        "login.html",
        status=status,
        clerk=None,
        login_csrf=token,
        error=error,
        login=login,
        next=safe_next(request.query.get("next")),
        done=DONE.get(request.query.get("done", "")),
    )
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


async def login_page(request: web.Request) -> web.StreamResponse:
    if await current_clerk(request) is not None:
        raise web.HTTPSeeOther(safe_next(request.query.get("next")))
    return _login_form(request)


async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    given = form.get(CSRF_FIELD)
    if not expected or not isinstance(given, str) or not users.same_token(expected, given):
        return _login_form(request, status=403, error=REFUSALS["csrf"])
    login = str(form.get("login", "")).strip()
    password = str(form.get("password", ""))
    hub = hub_of(request)
    try:
        # A cabinet person signs in here too and goes to the plug-in's pages (/cabinet).
        user = await users.authenticate(
            hub.db, login, password, roles=(*users.ROLES, users.CABINET)
        )
    except users.LockedOut as exc:
        until = exc.until.astimezone(edoc.VN_TZ).strftime("%H:%M %d/%m/%Y")
        error = (
            f"Tài khoản tạm khoá do nhập sai nhiều lần, đến {until}.",
            f"The account is locked after repeated failures, until {until} (Vietnam time).",
        )
        return _login_form(request, status=429, error=error, login=login)
    except users.LoginRefused:
        error = ("Tên đăng nhập hoặc mật khẩu không đúng.", "The login or the password is wrong.")
        return _login_form(request, status=401, error=error, login=login)
    async with hub.db.connection() as conn:
        session = await users.open_session(conn, user)
    log.info("event=login login=%s organ_id=%s", user.login, user.organ_id)
    target = safe_next(form.get("next"))
    if user.role == users.CABINET and not target.startswith("/cabinet"):
        target = "/cabinet"
    elif user.role != users.CABINET and target.startswith("/cabinet"):
        target = "/letters/received"
    response = see_other(target)
    lifetime = int(users.SESSION_LIFETIME.total_seconds())
    set_cookie(request, response, SESSION_COOKIE, session.token, max_age=lifetime)
    clear_cookie(request, response, LOGIN_CSRF_COOKIE)
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    clerk = clerk_of(request)
    async with hub_of(request).db.connection() as conn:
        await users.close_session(conn, clerk.session.token)
    response = see_other("/login?done=logout")
    clear_cookie(request, response, SESSION_COOKIE)
    return response


# ---------------------------------------------------------------- lists


def _date(value: str | None, label: str, problems: list[str]) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        problems.append(f"{label}: {value!r} không phải ngày (yyyy-mm-dd) / is not a date")
        return None


def _search(request: web.Request) -> tuple[lists.Search, list[str]]:
    q = request.query
    problems: list[str] = []

    def text(name: str) -> str | None:
        value = q.get(name, "").strip()
        return value[:200] or None

    search = lists.Search(
        number=text("number"),
        notation=text("notation"),
        subject=text("subject"),
        party=text("party"),
        date_from=_date(q.get("from"), "Từ ngày / From", problems),
        date_to=_date(q.get("to"), "Đến ngày / To", problems),
    )
    return search, problems


async def received(request: web.Request) -> web.StreamResponse:
    clerk = clerk_of(request)
    hub = hub_of(request)
    search, problems = _search(request)
    threshold = hub.config.ack_overdue_seconds
    async with hub.db.connection() as conn:
        rows = await lists.received(conn, clerk.user.organ_id, search)
    letters = [{"row": r, "overdue": _overdue(r, threshold), "code": _code(r)} for r in rows]
    return render(
        request,
        "letters.html",
        role="received",
        letters=letters,
        search=search,
        query=request.query,
        problems=problems,
        limit=lists.LIMIT,
    )


async def sent(request: web.Request) -> web.StreamResponse:
    clerk = clerk_of(request)
    hub = hub_of(request)
    search, problems = _search(request)
    threshold = hub.config.ack_overdue_seconds
    async with hub.db.connection() as conn:
        rows = await lists.sent(conn, clerk.user.organ_id, search)
        lines = await lists.recipients_of(conn, [r["id"] for r in rows])
    per_letter: dict[Any, list[dict[str, Any]]] = {}
    for line in lines:
        per_letter.setdefault(line["document_id"], []).append(
            {"line": line, "overdue": _overdue(line, threshold)}
        )
    letters = [
        {
            "row": r,
            "code": _code(r),
            "recipients": per_letter.get(r["id"], []),
            "overdue": any(x["overdue"] for x in per_letter.get(r["id"], [])),
        }
        for r in rows
    ]
    return render(
        request,
        "letters.html",
        role="sent",
        letters=letters,
        search=search,
        query=request.query,
        problems=problems,
        limit=lists.LIMIT,
    )


def _overdue(row: Any, threshold: float) -> bool:
    return is_overdue(
        kind=row["kind"],
        state=row["state"],
        created_at=row["created_at"],
        due_date=row["due_date"],
        business_status=row["business_status"],
        threshold=threshold,
    )


def _code(row: Any) -> str:
    return _code_of(row["code_number"], row["code_notation"])


def _code_of(number: str | None, notation: str | None) -> str:
    if number and notation:
        return f"{number}/{notation}"
    return str(number or notation or "")


# ---------------------------------------------------------------- one letter


async def letter_view(hub: Hub, clerk: Clerk, letter_id: str) -> dict[str, Any]:
    """Everything the letter page shows, for a clerk of its sender or of one of its recipients."""
    trace = await delivery.trace(hub, clerk.agency, letter_id)
    doc = trace.document
    if doc.kind != "letter":
        raise NotFound(f"{letter_id} is a status, not a letter", where="document")
    async with hub.db.connection() as conn:
        attachments = await ledger.attachments(conn, doc.id)
    threshold = hub.config.ack_overdue_seconds
    lines = [
        {
            **{f: getattr(line, f) for f in line.__dataclass_fields__},
            "overdue": line.overdue(threshold),
            "steps": _steps(doc.received_at, line),
        }
        for line in trace.recipients
    ]
    is_sender = doc.sender == clerk.agency.organ_id
    shown = {
        "document_id": doc.id,
        "sender": doc.sender,
        "edxml_document_id": doc.edxml_document_id,
        "business_type": doc.business_type,
        "subject": doc.subject,
        "signature": doc.signature,
        "unsigned_legacy": doc.unsigned_legacy,
        "received_at": doc.received_at,
        "due_date": doc.due_date,
        "refers_to": trace.refers_to,
        "referred_by": trace.referred_by,
        "recall": trace.recall,
        "recipients": lines,
    }
    return {
        "trace": shown,
        "doc": doc,
        "code": _code_of(doc.code_number, doc.code_notation),
        "summary": doc.summary,
        "attachments": attachments,
        "is_sender": is_sender,
        "can_recall": is_sender and not trace.recall.asked,
        "any_overdue": any(line["overdue"] for line in lines),
    }


def _steps(received_at: dt.datetime, line: ledger.TraceLine) -> list[dict[str, Any]]:
    """A recipient's line in time order: the axis's own steps and every status, whoever was first
    (a recipient may report before the delivery is marked available)."""
    steps: list[dict[str, Any]] = [{"kind": "accepted", "at": received_at}]
    for kind, at in (
        ("available", line.available_at),
        ("acknowledged", line.acknowledged_at),
        ("failed", line.failed_at),
    ):
        if at is not None:
            steps.append({"kind": kind, "at": at})
    steps += [{"kind": "status", "at": s.at, "status": s} for s in line.statuses]
    return sorted(steps, key=lambda step: step["at"])


async def letter(request: web.Request) -> web.StreamResponse:
    clerk = clerk_of(request)
    view = await letter_view(hub_of(request), clerk, request.match_info["id"])
    return render(
        request,
        "letter.html",
        done=DONE.get(request.query.get("done", "")),
        **view,
    )


async def letter_events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: the letter's timeline, rendered again whenever the letter changes.

    The stream ends (with an `ended` event) as soon as its session does: logout, the user or the
    agency disabled, a new password, on whichever hub process it happened (a NOTIFY wakes the
    stream, which asks the database); every heartbeat asks too, in case a notice was missed."""
    clerk = clerk_of(request)
    hub = hub_of(request)
    letter_id = request.match_info["id"]
    env = request.app[TEMPLATES]
    live = request.app[LIVE]

    async def fragment() -> str:
        view = await letter_view(hub, clerk, letter_id)
        return env.get_template("_timeline.html").render(**view)

    async def session_alive() -> bool:
        async with hub.db.connection() as conn:
            return await users.session_user(conn, clerk.session.token) is not None

    # Subscribed before the first rendering, so a change in between is not missed.
    sub = live.subscribe(
        str(parse_id(letter_id, "document")),
        users.session_key(clerk.session.token),
        clerk.agency.organ_id,
    )
    try:
        first = await fragment()  # refuses a letter the clerk may not see, before streaming
    except BaseException:
        live.unsubscribe(sub)
        raise
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    try:
        await response.prepare(request)
        await response.write(b"retry: 2000\n\n")
        html: str | None = first
        last: str | None = None
        while not live.closing:
            if html is not None and html != last:
                await response.write(_sse("timeline", html))
                last = html
            fired = await sub.wait(HEARTBEAT)
            if live.closing:
                break
            if sub.recheck or not fired:
                sub.recheck = False
                if not await session_alive():
                    log.info(
                        "event=live_stream_end document_id=%s login=%s reason=session_ended",
                        letter_id,
                        clerk.user.login,
                    )
                    await response.write(_sse("ended", "session"))
                    break
            if fired:
                html = await fragment()
            else:
                html = None
                await response.write(b": ping\n\n")
    except (ConnectionResetError, asyncio.CancelledError):
        pass  # the page was closed or the hub is stopping
    except AxisError as exc:
        log.info("event=live_stream_end document_id=%s reason=%r", letter_id, exc.message)
    finally:
        live.unsubscribe(sub)
    return response


def _sse(event: str, data: str) -> bytes:
    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return f"event: {event}\n{lines}\n".encode()


async def attachment(request: web.Request) -> web.StreamResponse:
    clerk = clerk_of(request)
    hub = hub_of(request)
    found = await delivery.attachment_for(
        hub, clerk.agency, request.match_info["id"], request.match_info["position"]
    )
    disposition = f"attachment; filename*=UTF-8''{quote(found.name)}"
    return await _stream(
        request,
        found.sha256,
        found.size,
        found.content_type,
        disposition,
        within=found.package_sha256,
    )


async def edxml(request: web.Request) -> web.StreamResponse:
    clerk = clerk_of(request)
    doc = await delivery.document_for(hub_of(request), clerk.agency, request.match_info["id"])
    name = f"{doc.id}.edxml.xml"
    return await _stream(
        request,
        doc.content_sha256,
        doc.size,
        "application/xml",
        f"attachment; filename={name}",
    )


async def _stream(
    request: web.Request,
    sha256: str,
    size: int,
    content_type: str,
    disposition: str,
    *,
    within: str | None = None,
) -> web.StreamResponse:
    return await stream_blob(
        request,
        sha256,
        size,
        content_type,
        within=within,
        **{
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


# ---------------------------------------------------------------- actions


async def recall(request: web.Request) -> web.StreamResponse:
    clerk = clerk_of(request)
    form = await request.post()
    reason = str(form.get("reason", "")).strip()[:500] or None
    letter_id = request.match_info["id"]
    await statuses.ask_recall(
        hub_of(request), clerk.agency, letter_id, clerk=clerk.user.login, reason=reason
    )
    log.info("event=recall_asked document_id=%s clerk=%s", letter_id, clerk.user.login)
    raise web.HTTPSeeOther(f"/letters/{quote(letter_id)}?done=recall")


async def replace(request: web.Request) -> web.StreamResponse:
    """A signed replacement package (BussinessDocType 3) naming this letter, uploaded and sent."""
    clerk = clerk_of(request)
    hub = hub_of(request)
    letter_id = request.match_info["id"]
    original = await delivery.document_for(hub, clerk.agency, letter_id)
    if original.kind != "letter" or original.sender != clerk.agency.organ_id:
        raise BadRequest("only the sender of a letter may replace it", where="document")
    form = await request.post()
    upload = form.get("package")
    if not isinstance(upload, web.FileField):
        raise BadRequest("choose the signed replacement package (.xml) to upload", where="package")
    data = upload.file.read()
    if not data:
        raise BadRequest("the uploaded file is empty", where="package")
    _check_replaces(data, original.edxml_document_id)
    accepted = await ingest.submit(hub, clerk.agency, data)
    new_id = str(accepted.document_id)
    async with hub.db.connection() as conn:
        await repo.audit(
            conn,
            "replacement_uploaded",
            organ_id=clerk.agency.organ_id,
            document_id=original.id,
            details={"by": "clerk", "clerk": clerk.user.login, "replacement": new_id},
        )
    raise web.HTTPSeeOther(f"/letters/{new_id}?done=replace")


def _check_replaces(data: bytes, edxml_document_id: str) -> None:
    try:
        package = edoc.parse(data)
    except edoc.EdocError as exc:
        raise BadRequest(f"the file is not an edXML package: {exc}", where="package") from None
    bussiness = package.trace.bussiness if package.trace else None
    if package.is_status or bussiness is None or int(bussiness.bussiness_doc_type) != 3:
        raise BadRequest(
            "the package is not a replacement: its BussinessDocType must be 3 (thay thế)",
            where="TraceHeaderList/Bussiness/BussinessDocType",
        )
    named = [r.document_id for r in bussiness.replacement_info_list]
    if edxml_document_id not in named:
        raise BadRequest(
            f"the replacement names {', '.join(named) or 'no letter'} in ReplacementInfoList, not this letter ({edxml_document_id})",
            where="TraceHeaderList/Bussiness/ReplacementInfoList",
        )
