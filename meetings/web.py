"""HTTP handlers of eCabinet under /v1/cabinet and /v1/meetings: they read the request, call
meetings/'s services and write JSON; errors are the axis's `{"error": {code, message, where}}`."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from aiohttp import web

from meetings import axis_port as ax
from meetings import files, notices, packet_send, packet_zip, people, positions, rules, service
from meetings.people import Person
from storage.blobs import BlobError

log = logging.getLogger("meetings.web")


async def caller(request: web.Request) -> Person:
    """The cabinet person whose session token came as `Authorization: Bearer`; 401 otherwise
    (an agency's API token is no cabinet session, so it is refused here)."""
    token = bearer(request)
    async with ax.hub_of(request.app).db.connection() as conn:
        person = await people.by_session(conn, token)
    if person is None:
        raise ax.Unauthorized(
            "the token is not a live cabinet session (agency tokens are not accepted here)",
            where="Authorization",
        )
    return person


def bearer(request: web.Request) -> str:
    """The `Authorization: Bearer` token; 401 without one."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ax.Unauthorized(
            "sign in at POST /v1/cabinet/sessions and send 'Authorization: Bearer <token>'",
            where="Authorization",
        )
    return token


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise ax.BadRequest("the body must be a JSON object", where="body") from None
    if not isinstance(body, dict):
        raise ax.BadRequest("the body must be a JSON object", where="body")
    no_nul(body, "")
    return body


def no_nul(value: object, where: str) -> None:
    """PostgreSQL stores no NUL character in text: refuse it up front, naming the field."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ax.BadRequest(f"{where or 'body'} holds a NUL character", where=where or "body")
    elif isinstance(value, dict):
        for key, item in value.items():
            no_nul(key, where or "body")
            no_nul(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for n, item in enumerate(value):
            no_nul(item, f"{where}[{n}]")


def query_int(request: web.Request, name: str, minimum: int) -> int | None:
    """A whole-number query parameter written in ASCII digits, at least `minimum`."""
    raw = request.query.get(name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18 or int(raw) < minimum:
        raise ax.BadRequest(
            f"{name} must be a whole number from {minimum}, not {raw[:40]!r}", where=name
        )
    return int(raw)


# ---------------------------------------------------------------- sign-in and people


async def open_session(request: web.Request) -> web.Response:
    body = await json_body(request)
    login, password = body.get("login"), body.get("password")
    if not isinstance(login, str) or not login:
        raise ax.BadRequest("login is required (text)", where="login")
    if not isinstance(password, str) or not password:
        raise ax.BadRequest("password is required (text)", where="password")
    hub = ax.hub_of(request.app)
    user, session = await ax.sign_in(hub, login, password)
    async with hub.db.connection() as conn:
        person = await people.get(conn, user.id)
    body = {
        "token": session.token,
        "expires_at": session.expires_at.isoformat(),
        "person": person.public(),
    }
    return web.json_response(body, status=201)


async def list_people(request: web.Request) -> web.Response:
    await caller(request)
    async with ax.hub_of(request.app).db.connection() as conn:
        found = await people.list_all(conn)
    return web.json_response({"people": [p.public() for p in found]})


# ---------------------------------------------------------------- rules and files


async def get_rules(request: web.Request) -> web.Response:
    await caller(request)
    async with ax.hub_of(request.app).db.connection() as conn:
        return web.json_response(await rules.history(conn))


async def post_rules(request: web.Request) -> web.Response:
    person = await caller(request)
    service.secretariat_only(person)
    body = await json_body(request)
    async with ax.hub_of(request.app).db.connection() as conn:
        created = await rules.change(conn, body.get("rules"), body.get("note"), person.id)
    return web.json_response(created, status=201)


async def post_file(request: web.Request) -> web.Response:
    person = await caller(request)
    service.secretariat_only(person)
    hub = ax.hub_of(request.app)
    limit = hub.config.max_document_bytes

    async def chunks() -> AsyncIterator[bytes]:
        size = 0
        async for chunk in request.content.iter_chunked(1 << 20):
            size += len(chunk)
            if size > limit:
                raise files.TooLarge(f"the file is over the limit of {limit} bytes", where="body")
            yield chunk

    if request.content_length is not None and request.content_length > limit:
        raise files.TooLarge(
            f"the file is {request.content_length} bytes; the limit is {limit}", where="body"
        )
    stored, created = await files.store(hub, person.id, chunks())
    return web.json_response(stored, status=201 if created else 200)


# ---------------------------------------------------------------- meetings


async def list_meetings(request: web.Request) -> web.Response:
    person = await caller(request)
    async with ax.hub_of(request.app).db.connection() as conn:
        return web.json_response({"meetings": await service.list_meetings(conn, person)})


async def create_meeting(request: web.Request) -> web.Response:
    person = await caller(request)
    service.secretariat_only(person)
    body = await json_body(request)
    async with ax.hub_of(request.app).db.connection() as conn:
        made = await service.create_meeting(conn, person, body)
    return web.json_response(made, status=201, headers={"Location": f"/v1/meetings/{made['id']}"})


async def get_meeting(request: web.Request) -> web.Response:
    person = await caller(request)
    async with ax.hub_of(request.app).db.connection() as conn:
        return web.json_response(await service.get_meeting(conn, person, request.match_info["id"]))


async def add_item(request: web.Request) -> web.Response:
    person = await caller(request)
    service.secretariat_only(person)
    body = await json_body(request)
    async with ax.hub_of(request.app).db.connection() as conn:
        made = await service.add_item(conn, person, request.match_info["id"], body)
    return web.json_response(made, status=201)


async def add_paper(request: web.Request) -> web.Response:
    person = await caller(request)
    service.secretariat_only(person)
    body = await json_body(request)
    hub = ax.hub_of(request.app)
    async with hub.db.connection() as conn:
        made = await service.add_paper(
            conn, hub, person, request.match_info["id"], request.match_info["item"], body
        )
    return web.json_response(made, status=201)


async def add_version(request: web.Request) -> web.Response:
    person = await caller(request)
    service.secretariat_only(person)
    body = await json_body(request)
    async with ax.hub_of(request.app).db.connection() as conn:
        made = await service.add_version(
            conn, person, request.match_info["id"], request.match_info["paper"], body
        )
    return web.json_response(made, status=201)


async def send_packet(request: web.Request) -> web.Response:
    person = await caller(request)
    service.secretariat_only(person)
    body = await json_body(request) if request.can_read_body else {}
    hub = ax.hub_of(request.app)
    async with hub.db.connection() as conn:
        sent = await service.send_packet(conn, hub, person, request.match_info["id"], body)
    return web.json_response(sent, status=201)


async def get_packet(request: web.Request) -> web.Response:
    person = await caller(request)
    hub = ax.hub_of(request.app)
    async with hub.db.connection() as conn:
        return web.json_response(
            await service.get_packet(conn, hub, person, request.match_info["id"])
        )


async def get_packet_zip(request: web.Request) -> web.StreamResponse:
    """The caller's packet as a ZIP of known length: its small entries from memory, each paper's
    bytes straight from the blob store (by `sendfile` from a checked file where the store is a
    folder), so that every member can download a gigabyte at once through a few kilobytes each."""
    person = await caller(request)
    hub = ax.hub_of(request.app)
    async with hub.db.connection() as conn:
        sealed, papers, missing = await service.packet_download(
            conn, hub, person, request.match_info["id"]
        )
    payload = sealed["payload"]
    source = packet_send.paper_bytes(hub.blobs)
    # Every paper's CRC-32 before the first byte: the headers carry them and the length is known.
    try:
        crcs = [await source.crc32(paper["sha256"], paper["size"]) for paper in papers]
    except BlobError as exc:
        log.error("event=blob_unreadable meeting=%s error=%r", payload["meeting_id"], str(exc))
        raise ax.StoredBytesLost(
            f"a paper's stored bytes are unreadable ({exc.code}); the operators are alerted"
        ) from None
    archive = packet_zip.StoredZip(datetime.fromisoformat(payload["sent_at"]))
    manifest = json.dumps(sealed, ensure_ascii=False, indent=2).encode("utf-8")
    head = archive.small("manifest.json", manifest) + archive.small(
        "index.html", packet_zip.index_html(payload, missing)
    )
    headers = [
        archive.header(p["path"], p["size"], crc) for p, crc in zip(papers, crcs, strict=True)
    ]
    tail = archive.central_directory()
    name = f"meeting-{payload['meeting_id']}-packet-{payload['packet_version']}.zip"
    response = web.StreamResponse(
        headers={
            "Content-Type": "application/zip",
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Axis-Packet-Version": str(payload["packet_version"]),
        }
    )
    response.content_length = archive.offset
    await response.prepare(request)
    await response.write(head)
    for paper, header, crc in zip(papers, headers, crcs, strict=True):
        await response.write(header)
        await source.send(request, response, paper["sha256"], paper["size"], crc)
    await response.write(tail)
    await response.write_eof()
    return response


async def get_paper(request: web.Request) -> web.StreamResponse:
    person = await caller(request)
    version = query_int(request, "version", 1)
    async with ax.hub_of(request.app).db.connection() as conn:
        row = await service.open_paper(
            conn, person, request.match_info["id"], request.match_info["paper"], version
        )
    return await stream_paper(request, row, **{"X-Axis-Paper-Version": str(row["version"])})


async def stream_paper(request: web.Request, row: Any, **headers: str) -> web.StreamResponse:
    """A paper's stored bytes (a row with sha256, size, content_type, name), shown in the browser
    under its own name; `headers` are added."""
    from urllib.parse import quote

    return await ax.stream_blob(
        request,
        row["sha256"],
        row["size"],
        row["content_type"],
        **{
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(row['name'])}",
            "ETag": f'"{row["sha256"]}"',
            **headers,
        },
    )


async def post_attendance(request: web.Request) -> web.Response:
    person = await caller(request)
    body = await json_body(request)
    async with ax.hub_of(request.app).db.connection() as conn:
        return web.json_response(
            await service.attendance(conn, person, request.match_info["id"], body)
        )


async def get_reads(request: web.Request) -> web.Response:
    person = await caller(request)
    async with ax.hub_of(request.app).db.connection() as conn:
        return web.json_response(await service.reads(conn, person, request.match_info["id"]))


async def post_take_back(request: web.Request) -> web.Response:
    person = await caller(request)
    service.secretariat_only(person)
    body = await json_body(request)
    async with ax.hub_of(request.app).db.connection() as conn:
        return web.json_response(
            await service.take_back(conn, person, request.match_info["id"], body)
        )


async def post_close(request: web.Request) -> web.Response:
    person = await caller(request)
    service.secretariat_only(person)
    async with ax.hub_of(request.app).db.connection() as conn:
        return web.json_response(await service.close(conn, person, request.match_info["id"]))


async def post_position(request: web.Request) -> web.Response:
    person = await caller(request)
    body = await json_body(request)
    async with ax.hub_of(request.app).db.connection() as conn:
        made = await positions.record(
            conn, person, request.match_info["id"], request.match_info["item"], body
        )
    return web.json_response(made, status=201)


async def get_positions(request: web.Request) -> web.Response:
    person = await caller(request)
    async with ax.hub_of(request.app).db.connection() as conn:
        return web.json_response(await positions.view(conn, person, request.match_info["id"]))


async def get_notifications(request: web.Request) -> web.Response:
    person = await caller(request)
    after = query_int(request, "after", 0) or 0
    wait = notices.wait_param(request.query.get("wait"))
    items = await notices.poll(
        ax.hub_of(request.app), request.app[notices.WAITERS], person.id, after, wait
    )
    return web.json_response({"items": items})


def setup_routes(app: web.Application) -> None:
    notices.setup(app)
    r = app.router
    r.add_post("/v1/cabinet/sessions", open_session)
    r.add_get("/v1/cabinet/people", list_people)
    r.add_get("/v1/cabinet/rules", get_rules)
    r.add_post("/v1/cabinet/rules", post_rules)
    r.add_post("/v1/cabinet/files", post_file)
    r.add_get("/v1/cabinet/notifications", get_notifications)
    r.add_get("/v1/meetings", list_meetings)
    r.add_post("/v1/meetings", create_meeting)
    r.add_get("/v1/meetings/{id}", get_meeting)
    r.add_post("/v1/meetings/{id}/items", add_item)
    r.add_post("/v1/meetings/{id}/items/{item}/papers", add_paper)
    r.add_post("/v1/meetings/{id}/items/{item}/position", post_position)
    r.add_get("/v1/meetings/{id}/positions", get_positions)
    r.add_post("/v1/meetings/{id}/papers/{paper}/versions", add_version)
    r.add_post("/v1/meetings/{id}/packets", send_packet)
    r.add_get("/v1/meetings/{id}/packet", get_packet)
    r.add_get("/v1/meetings/{id}/packet.zip", get_packet_zip)
    r.add_get("/v1/meetings/{id}/papers/{paper}", get_paper)
    r.add_post("/v1/meetings/{id}/attendance", post_attendance)
    r.add_get("/v1/meetings/{id}/reads", get_reads)
    r.add_post("/v1/meetings/{id}/take-back", post_take_back)
    r.add_post("/v1/meetings/{id}/close", post_close)
