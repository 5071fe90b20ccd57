"""The cabinet's pages: members read their meetings' papers in the browser, answer attendance
(with a stand-in) and record positions; the secretariat builds the agenda, uploads papers, sends
packets, sees who has not opened what, takes papers back and closes the meeting.

Everything goes through the same service functions as the /v1 API, so the same rules hold (a
member never sees a paper outside their audience, a draft or another meeting: 404). Sign-in is the
axis's own /login page and its session cookie; every POST carries the session's CSRF token; the
base template, error pages and the live-update script are the clerks' pages' (see axis_port)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from aiohttp import web

from meetings import axis_port as ax
from meetings import consultations, files, notices, people, positions, service
from meetings.people import Person

log = logging.getLogger("meetings.pages")

HERE = Path(__file__).resolve().parent
TEMPLATES = web.AppKey("cabinet_page_templates", jinja2.Environment)


class Streams:
    """The open event streams of this process, woken and ended when the hub shuts down."""

    def __init__(self) -> None:
        self.wakes: set[asyncio.Event] = set()
        self.closing = False

    def close(self) -> None:
        self.closing = True
        for wake in list(self.wakes):
            wake.set()


STREAMS = web.AppKey("cabinet_page_streams", Streams)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


#: Shown in the browser; anything else is offered as a download (an uploaded HTML page must not
#: run as this site).
INLINE_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg", "text/plain"})

DONE = {
    "created": ("Đã tạo cuộc họp (bản nháp).", "The meeting was created (a draft)."),
    "item": ("Đã thêm mục vào chương trình.", "The item was added to the agenda."),
    "paper": ("Đã tải tài liệu lên.", "The paper was uploaded."),
    "version": ("Đã tải phiên bản mới.", "The new version was uploaded."),
    "sent": ("Đã gửi bộ tài liệu tới các thành viên.", "The packet went to the members."),
    "taken_back": ("Đã thu hồi tài liệu.", "The papers were taken back."),
    "closed": ("Đã kết thúc cuộc họp.", "The meeting is closed."),
    "attendance": ("Đã ghi nhận việc tham dự.", "Your attendance is recorded."),
    "position": ("Đã ghi nhận ý kiến.", "Your position is recorded."),
}

ATTENDANCE = {
    "pending": ("Chưa trả lời", "No answer yet"),
    "attending": ("Tham dự", "Attending"),
    "absent": ("Vắng mặt", "Absent"),
}
STATES = {
    "draft": ("Bản nháp", "Draft"),
    "sent": ("Đã gửi tài liệu", "Papers sent"),
    "closed": ("Đã kết thúc", "Closed"),
}
POSITIONS = {
    "agree": ("Đồng ý", "Agree"),
    "object": ("Không đồng ý", "Object"),
    "comment": ("Có ý kiến", "Comment"),
}


@dataclass(frozen=True)
class Visitor:
    """The cabinet person of a page request, with their page session."""

    person: Person
    session: ax.Session

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token


VISITOR = web.RequestKey("cabinet_visitor", Visitor)


async def current_visitor(request: web.Request) -> Visitor | None:
    token = request.cookies.get(ax.SESSION_COOKIE, "")
    if not token or not token.isascii():
        return None
    async with ax.hub_of(request.app).db.connection() as conn:
        found = await ax.page_session(conn, token)
        if found is None:
            return None
        user, session = found
        return Visitor(await people.get(conn, user.id), session)


def cabinet_page(handler: Handler) -> Handler:
    """Run `handler` for a signed-in cabinet person only: a GET without a session goes to the
    axis's /login, a POST without one or without the session's CSRF token is refused (403).
    Errors of the services become the axis's HTML error page with their status."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        visitor = await current_visitor(request)
        if visitor is None:
            if request.method == "GET":
                raise web.HTTPSeeOther("/login?next=" + quote(request.path_qs, safe=""))
            return ax.refused_page(request, 403, "session")
        if request.method == "POST":
            try:
                await ax.check_csrf(request, visitor.csrf_token)
            except ax.CsrfRefused:
                return ax.refused_page(request, 403, "csrf")
        request[VISITOR] = visitor
        return await handler(request)

    return ax.html_errors(wrapped)


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    env = request.app[TEMPLATES]
    context.setdefault("visitor", request.get(VISITOR))
    context.setdefault("clerk", None)
    context.setdefault("csrf_field", ax.CSRF_FIELD)
    context.setdefault("path", request.path)
    context.setdefault("done", DONE.get(request.query.get("done", "")))
    context.update(attendance_labels=ATTENDANCE, state_labels=STATES, position_labels=POSITIONS)
    html = env.get_template(template).render(**context)
    return web.Response(
        text=html,
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers=ax.SECURITY_HEADERS,
    )


def _back(meeting_id: str, done: str) -> web.StreamResponse:
    raise web.HTTPSeeOther(f"/cabinet/meetings/{quote(meeting_id, safe='')}?done={done}")


def _field(form: Any, name: str) -> str | None:
    value = form.get(name)
    if not isinstance(value, str):
        return None
    return value.strip() or None


# ---------------------------------------------------------------- what the pages show


async def _names(conn: Any) -> dict[str, Person]:
    return {str(p.id): p for p in await people.list_all(conn)}


async def _opened(conn: Any, person: Person) -> set[tuple[str, int]]:
    rows = await conn.fetch(
        "SELECT paper_id, version FROM paper_openings WHERE person_id = $1", person.id
    )
    return {(str(r["paper_id"]), r["version"]) for r in rows}


async def meeting_view(conn: Any, person: Person, meeting_id: str) -> dict[str, Any]:
    """Everything a meeting's page shows this person (404 where the API answers 404)."""
    meeting = await service.get_meeting(conn, person, meeting_id)
    names = await _names(conn)
    view: dict[str, Any] = {
        "meeting": meeting,
        "names": names,
        "me": person,
        "opened": await _opened(conn, person),
        "stances": await positions.view(conn, person, meeting_id),
    }
    invited = {i["person_id"]: i for i in meeting["invitees"]}
    view["mine"] = invited.get(str(person.id))
    view["standing_in_for"] = [
        names[i["person_id"]] for i in meeting["invitees"] if i["stand_in"] == str(person.id)
    ]
    if person.secretariat:
        view["reads"] = (await service.reads(conn, person, meeting_id))["papers"]
        view["titles"] = {p["id"]: p["title"] for i in meeting["items"] for p in i["papers"]}
    else:
        view["my_positions"] = {s["item_id"]: s for s in view["stances"]["items"]}
        view["deputies"] = [p for p in names.values() if p.kind == "deputy" and p.active]
    return view


# ---------------------------------------------------------------- pages


async def home(request: web.Request) -> web.StreamResponse:
    visitor = request[VISITOR]
    async with ax.hub_of(request.app).db.connection() as conn:
        meetings = await service.list_meetings(conn, visitor.person)
        asked = await consultations.list_all(conn, visitor.person)
        names = await _names(conn)
    members = [p for p in names.values() if p.kind == "member" and p.active]
    return render(
        request, "cabinet_home.html", meetings=meetings, members=members, consultations=asked
    )


async def meeting(request: web.Request) -> web.StreamResponse:
    visitor = request[VISITOR]
    async with ax.hub_of(request.app).db.connection() as conn:
        view = await meeting_view(conn, visitor.person, request.match_info["id"])
    return render(request, "cabinet_meeting.html", **view)


async def paper(request: web.Request) -> web.StreamResponse:
    """A paper's bytes, shown in the browser when it is a PDF (or an image, or plain text); the
    first opening per person and version is recorded as through the API."""
    visitor = request[VISITOR]
    raw = request.query.get("version")
    version = None
    if raw is not None:
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
            raise ax.BadRequest(
                f"version must be a whole number, not {raw[:40]!r}", where="version"
            )
        version = int(raw)
    async with ax.hub_of(request.app).db.connection() as conn:
        row = await service.open_paper(
            conn, visitor.person, request.match_info["id"], request.match_info["paper"], version
        )
    how = "inline" if row["content_type"] in INLINE_TYPES else "attachment"
    return await ax.stream_blob(
        request,
        row["sha256"],
        row["size"],
        row["content_type"],
        **{
            "Content-Disposition": f"{how}; filename*=UTF-8''{quote(row['name'])}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
            "X-Axis-Paper-Version": str(row["version"]),
        },
    )


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: the agenda and papers, rendered again whenever this person is told
    something (a packet, a new version, a take-back), whichever hub process wrote it (the
    notifications' NOTIFY). The stream ends with `ended` as soon as the session does."""
    visitor = request[VISITOR]
    hub = ax.hub_of(request.app)
    env = request.app[TEMPLATES]
    waiters = request.app[notices.WAITERS]
    meeting_id = request.match_info["id"]

    async def fragment() -> str:
        async with hub.db.connection() as conn:
            view = await meeting_view(conn, visitor.person, meeting_id)
        return env.get_template("_cabinet_agenda.html").render(
            **view, attendance_labels=ATTENDANCE, csrf_field=ax.CSRF_FIELD, visitor=visitor
        )

    async def session_alive() -> bool:
        async with hub.db.connection() as conn:
            return await ax.page_session(conn, visitor.session.token) is not None

    # Registered before the first rendering, so a packet in between is not missed.
    wake = waiters.register(visitor.person.id)
    streams = request.app[STREAMS]
    try:
        first = await fragment()  # refuses a meeting the person may not see, before streaming
    except BaseException:
        waiters.unregister(visitor.person.id, wake)
        raise
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    streams.wakes.add(wake)
    try:
        await response.prepare(request)
        await response.write(b"retry: 2000\n\n")
        html: str | None = first
        last: str | None = None
        while not streams.closing:
            if html is not None and html != last:
                await response.write(ax.sse_event("timeline", html))
                last = html
            wake.clear()
            fired = await ax.wait_event(wake, ax.HEARTBEAT)
            if streams.closing:
                break
            if not await session_alive():
                await response.write(ax.sse_event("ended", "session"))
                break
            if fired:
                html = await fragment()
            else:
                html = None
                await response.write(b": ping\n\n")
    except (ConnectionResetError, asyncio.CancelledError):
        pass  # the page was closed or the hub is stopping
    except ax.AxisError as exc:
        log.info("event=cabinet_stream_end meeting_id=%s reason=%r", meeting_id, exc.message)
    finally:
        streams.wakes.discard(wake)
        waiters.unregister(visitor.person.id, wake)
    return response


# ---------------------------------------------------------------- members' actions


async def attendance(request: web.Request) -> web.StreamResponse:
    visitor = request[VISITOR]
    form = await request.post()
    answer = _field(form, "attending")
    if answer not in ("yes", "no"):
        raise ax.BadRequest("choose whether you attend (yes or no)", where="attending")
    body = {
        "attending": answer == "yes",
        "reason": _field(form, "reason"),
        "stand_in": _field(form, "stand_in"),
    }
    meeting_id = request.match_info["id"]
    async with ax.hub_of(request.app).db.connection() as conn:
        await service.attendance(conn, visitor.person, meeting_id, body)
    return _back(meeting_id, "attendance")


async def position(request: web.Request) -> web.StreamResponse:
    visitor = request[VISITOR]
    form = await request.post()
    body = {"position": _field(form, "position"), "comment": _field(form, "comment")}
    meeting_id = request.match_info["id"]
    async with ax.hub_of(request.app).db.connection() as conn:
        await positions.record(conn, visitor.person, meeting_id, request.match_info["item"], body)
    return _back(meeting_id, "position")


# ---------------------------------------------------------------- the secretariat's actions


async def create_meeting(request: web.Request) -> web.StreamResponse:
    visitor = request[VISITOR]
    service.secretariat_only(visitor.person)
    form = await request.post()
    starts = _field(form, "starts_at")
    if starts is not None and len(starts) <= 16:  # a datetime-local field: Vietnam time
        starts = f"{starts}+07:00"
    body = {
        "title": _field(form, "title"),
        "kind": _field(form, "kind"),
        "place": _field(form, "place"),
        "starts_at": starts,
        "invitees": [v for v in form.getall("invitees", []) if isinstance(v, str)],
    }
    async with ax.hub_of(request.app).db.connection() as conn:
        made = await service.create_meeting(conn, visitor.person, body)
    return _back(made["id"], "created")


async def add_item(request: web.Request) -> web.StreamResponse:
    visitor = request[VISITOR]
    form = await request.post()
    meeting_id = request.match_info["id"]
    body = {"title": _field(form, "title"), "presenter": _field(form, "presenter")}
    async with ax.hub_of(request.app).db.connection() as conn:
        await service.add_item(conn, visitor.person, meeting_id, body)
    return _back(meeting_id, "item")


async def _upload(request: web.Request, form: Any) -> tuple[str, str, str]:
    """(sha256, name, content type) of the form's file, streamed into the blob store."""
    upload = form.get("file")
    if not isinstance(upload, web.FileField) or not upload.filename:
        raise ax.BadRequest("choose the file to upload", where="file")
    hub = ax.hub_of(request.app)

    async def chunks() -> AsyncIterator[bytes]:
        while chunk := upload.file.read(1 << 20):
            yield chunk

    stored, _ = await files.store(hub, request[VISITOR].person.id, chunks())
    return stored["sha256"], upload.filename, upload.content_type or "application/octet-stream"


async def add_paper(request: web.Request) -> web.StreamResponse:
    visitor = request[VISITOR]
    service.secretariat_only(visitor.person)
    form = await request.post()
    meeting_id = request.match_info["id"]
    audience = [v for v in form.getall("audience", []) if isinstance(v, str)]
    sha, name, content_type = await _upload(request, form)
    body = {
        "title": _field(form, "title"),
        "file_sha256": sha,
        "name": name,
        "content_type": content_type,
        "confidential": form.get("confidential") == "on",
        "audience": audience or None,
    }
    async with ax.hub_of(request.app).db.connection() as conn:
        await service.add_paper(
            conn,
            ax.hub_of(request.app),
            visitor.person,
            meeting_id,
            request.match_info["item"],
            body,
        )
    return _back(meeting_id, "paper")


async def add_version(request: web.Request) -> web.StreamResponse:
    visitor = request[VISITOR]
    service.secretariat_only(visitor.person)
    form = await request.post()
    meeting_id = request.match_info["id"]
    sha, name, content_type = await _upload(request, form)
    body = {"file_sha256": sha, "name": name, "content_type": content_type}
    if note := _field(form, "note"):
        body["note"] = note
    async with ax.hub_of(request.app).db.connection() as conn:
        await service.add_version(
            conn, visitor.person, meeting_id, request.match_info["paper"], body
        )
    return _back(meeting_id, "version")


async def send_packet(request: web.Request) -> web.StreamResponse:
    visitor = request[VISITOR]
    form = await request.post()
    meeting_id = request.match_info["id"]
    body = {"urgent": form.get("urgent") == "on", "reason": _field(form, "reason")}
    hub = ax.hub_of(request.app)
    async with hub.db.connection() as conn:
        await service.send_packet(conn, hub, visitor.person, meeting_id, body)
    return _back(meeting_id, "sent")


async def take_back(request: web.Request) -> web.StreamResponse:
    visitor = request[VISITOR]
    form = await request.post()
    meeting_id = request.match_info["id"]
    body = {"papers": [v for v in form.getall("papers", []) if isinstance(v, str)]}
    async with ax.hub_of(request.app).db.connection() as conn:
        await service.take_back(conn, visitor.person, meeting_id, body)
    return _back(meeting_id, "taken_back")


async def close(request: web.Request) -> web.StreamResponse:
    visitor = request[VISITOR]
    meeting_id = request.match_info["id"]
    async with ax.hub_of(request.app).db.connection() as conn:
        await service.close(conn, visitor.person, meeting_id)
    return _back(meeting_id, "closed")


async def logout(request: web.Request) -> web.StreamResponse:
    visitor = request[VISITOR]
    async with ax.hub_of(request.app).db.connection() as conn:
        await ax.close_session(conn, visitor.session.token)
    response = ax.see_other("/login?done=logout")
    ax.clear_cookie(request, response, ax.SESSION_COOKIE)
    return response


def setup(app: web.Application) -> None:
    app[TEMPLATES] = ax.page_environment(HERE / "templates")
    streams = Streams()
    app[STREAMS] = streams

    async def end_streams(_app: web.Application) -> None:
        streams.close()

    app.on_shutdown.append(end_streams)
    r = app.router
    r.add_get("/cabinet", cabinet_page(home))
    r.add_post("/cabinet/logout", cabinet_page(logout))
    r.add_post("/cabinet/meetings", cabinet_page(create_meeting))
    r.add_get("/cabinet/meetings/{id}", cabinet_page(meeting))
    r.add_get("/cabinet/meetings/{id}/events", cabinet_page(events))
    r.add_get("/cabinet/meetings/{id}/papers/{paper}", cabinet_page(paper))
    r.add_post("/cabinet/meetings/{id}/attendance", cabinet_page(attendance))
    r.add_post("/cabinet/meetings/{id}/items", cabinet_page(add_item))
    r.add_post("/cabinet/meetings/{id}/items/{item}/position", cabinet_page(position))
    r.add_post("/cabinet/meetings/{id}/items/{item}/papers", cabinet_page(add_paper))
    r.add_post("/cabinet/meetings/{id}/papers/{paper}/versions", cabinet_page(add_version))
    r.add_post("/cabinet/meetings/{id}/packets", cabinet_page(send_packet))
    r.add_post("/cabinet/meetings/{id}/take-back", cabinet_page(take_back))
    r.add_post("/cabinet/meetings/{id}/close", cabinet_page(close))
    r.add_static("/static/cabinet/", HERE / "static", name="cabinet_static")
