"""HTTP handlers of written consultations under /v1/consultations: they read the request, call
meetings.consultations and write JSON (errors as the axis's `{"error": {code, message, where}}`)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from meetings import axis_port as ax
from meetings import ballots, consultations, report, result_letter, service
from meetings.web import bearer, caller, json_body, no_nul, stream_paper


def _id(request: web.Request) -> str:
    return request.match_info["id"]


async def list_consultations(request: web.Request) -> web.Response:
    person = await caller(request)
    async with ax.hub_of(request.app).db.connection() as conn:
        found = await consultations.list_all(conn, person)
    return web.json_response({"consultations": found})


async def create(request: web.Request) -> web.Response:
    person = await caller(request)
    service.secretariat_only(person)
    body = await json_body(request)
    hub = ax.hub_of(request.app)
    async with hub.db.connection() as conn:
        made = await consultations.create(conn, hub, person, body)
    return web.json_response(
        made, status=201, headers={"Location": f"/v1/consultations/{made['id']}"}
    )


async def get_one(request: web.Request) -> web.Response:
    person = await caller(request)
    async with ax.hub_of(request.app).db.connection() as conn:
        return web.json_response(await consultations.get(conn, person, _id(request)))


async def open_(request: web.Request) -> web.Response:
    person = await caller(request)
    hub = ax.hub_of(request.app)
    async with hub.db.connection() as conn:
        return web.json_response(await consultations.open_(conn, hub, person, _id(request)))


async def deadline(request: web.Request) -> web.Response:
    person = await caller(request)
    service.secretariat_only(person)
    body = await json_body(request)
    async with ax.hub_of(request.app).db.connection() as conn:
        return web.json_response(await consultations.set_deadline(conn, person, _id(request), body))


async def get_paper(request: web.Request) -> web.StreamResponse:
    person = await caller(request)
    async with ax.hub_of(request.app).db.connection() as conn:
        row = await consultations.paper(conn, person, _id(request), request.match_info["paper"])
    return await stream_paper(request, row)


async def post_ballot(request: web.Request) -> web.Response:
    # Who calls is found with the ballot, by the batch that takes it (meetings.ballots).
    token = bearer(request)
    body: dict[str, Any] | ax.AxisError
    try:
        body = await _ballot_body(request)
    except ax.AxisError as exc:
        body = exc  # answered as such once the session is known to be live
    desk = ballots.desk_of(request.app)
    answer, created = await ballots.cast(desk, token, _id(request), body)
    return web.Response(
        text=answer, content_type="application/json", status=201 if created else 200
    )


async def _ballot_body(request: web.Request) -> dict[str, Any]:
    """meetings.web.json_body for the busiest route: read by orjson, and walked for a NUL
    character only when the text could hold one (JSON writes it only as the escape \\u0000)."""
    raw = await request.read()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ax.BadRequest("the body must be a JSON object", where="body") from None
    if not isinstance(body, dict):
        raise ax.BadRequest("the body must be a JSON object", where="body")
    if b"\\u0000" in raw:
        no_nul(body, "")
    return body


async def get_ballots(request: web.Request) -> web.Response:
    person = await caller(request)
    async with ax.hub_of(request.app).db.connection() as conn:
        return web.json_response(await consultations.ballots(conn, person, _id(request)))


async def close(request: web.Request) -> web.Response:
    person = await caller(request)
    hub = ax.hub_of(request.app)
    async with hub.db.connection() as conn:
        return web.json_response(await consultations.close(conn, hub, person, _id(request)))


async def get_tally(request: web.Request) -> web.Response:
    person = await caller(request)
    async with ax.hub_of(request.app).db.connection() as conn:
        return web.json_response(await consultations.get_tally(conn, person, _id(request)))


async def get_report(request: web.Request) -> web.Response:
    person = await caller(request)
    async with ax.hub_of(request.app).db.connection() as conn:
        html = await report.for_person(conn, person, _id(request))
    return web.Response(
        body=html, content_type="text/html", charset="utf-8", headers=report.HEADERS
    )


async def post_result(request: web.Request) -> web.Response:
    person = await caller(request)
    service.secretariat_only(person)
    body = await json_body(request) if request.can_read_body else {}
    hub = ax.hub_of(request.app)
    accepted = await result_letter.send(hub, person, _id(request), body)
    return web.json_response(accepted, status=202)


async def get_proof(request: web.Request) -> web.Response:
    person = await caller(request)
    hub = ax.hub_of(request.app)
    return web.json_response(await consultations.proof(hub, person, _id(request)))


def setup_routes(app: web.Application) -> None:
    consultations.setup(app)
    ballots.setup(app)
    r = app.router
    # The ballots first: the router tries the routes under one prefix in the order they were
    # added, and this is the one a crowd of members calls.
    r.add_post("/v1/consultations/{id}/ballots", post_ballot)
    r.add_get("/v1/consultations/{id}/ballots", get_ballots)
    r.add_get("/v1/consultations", list_consultations)
    r.add_post("/v1/consultations", create)
    r.add_get("/v1/consultations/{id}", get_one)
    r.add_post("/v1/consultations/{id}/open", open_)
    r.add_post("/v1/consultations/{id}/deadline", deadline)
    r.add_get("/v1/consultations/{id}/papers/{paper}", get_paper)
    r.add_post("/v1/consultations/{id}/close", close)
    r.add_get("/v1/consultations/{id}/tally", get_tally)
    r.add_get("/v1/consultations/{id}/report", get_report)
    r.add_post("/v1/consultations/{id}/result", post_result)
    r.add_get("/v1/consultations/{id}/proof", get_proof)
