"""The /v1 HTTP API: handlers only translate HTTP into service calls and results into HTTP."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import orjson
from aiohttp import web

from axis.adapters.bodies import UnsupportedEncoding
from axis.core import agencies, delivery, ingest, ledger, statuses
from axis.core.agencies import Agency
from axis.core.audit import CheckpointPolicy
from axis.core.audit import proof as audit_proof
from axis.core.errors import (
    AxisError,
    BadRequest,
    ConfigError,
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    StoredBytesLost,
    TooLarge,
    Unauthorized,
    Unprocessable,
)
from axis.core.secrets import SecretUnreadable
from axis.core.users import LockedOut
from axis.hub import Hub

HUB = web.AppKey("hub", Hub)

#: /v1's one table from the axis's errors to HTTP statuses (a subclass takes its nearest base's).
#: Stored bytes that cannot be read are the axis's own failure: 500 blob_unreadable, never 404.
HTTP_STATUS: dict[type[AxisError], int] = {
    BadRequest: 400,
    ConfigError: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Gone: 410,
    TooLarge: 413,
    UnsupportedEncoding: 415,
    Unprocessable: 422,
    LockedOut: 429,
    StoredBytesLost: 500,
    SecretUnreadable: 500,
}


def http_status(exc: AxisError) -> int:
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    # A plug-in's own error class not in the table may still say its status; else a bad request.
    status = getattr(exc, "status", 400)
    return status if isinstance(status, int) else 400


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON answer of /v1, written by orjson: an inbox answer carrying small letters in base64
    is mostly long ASCII strings, which orjson writes about 50 times faster than the json module
    escapes them (5 ms per 50 letters of 23 KB against 0.1 ms)."""
    return web.Response(
        body=orjson.dumps(data),
        status=status,
        headers=headers,
        content_type="application/json",
        charset="utf-8",
    )


def error_response(exc: AxisError) -> web.Response:
    return json_response(exc.to_json(), status=http_status(exc))


# ---------------------------------------------------------------- the JSON of the results


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def delivery_json(
    item: ledger.DeliveryItem, overdue_after: float | None = None, *, viewer: str | None = None
) -> dict[str, Any]:
    """A delivery as /v1 shows it; `viewer` is the agency asking when it may not be the recipient."""
    return {
        "delivery_id": str(item.delivery_id),
        "document_id": str(item.document_id),
        "kind": item.kind,
        "sender": item.sender,
        "recipient": item.recipient,
        "state": item.state,
        "edxml_document_id": item.edxml_document_id,
        "business_type": item.business_type,
        "status_code": item.status_code,
        "responds_to": str(item.responds_to) if item.responds_to else None,
        "subject": item.subject,
        "code": item.code,
        "size": item.size,
        "signature": item.signature,
        "unsigned_legacy": item.unsigned_legacy,
        "received_at": item.received_at.isoformat(),
        "available_at": _iso(item.available_at),
        "acknowledged_at": _iso(item.acknowledged_at),
        "attempts": item.attempts,
        "last_error": item.error_for(viewer),
        "business_status": item.business_status,
        "due_date": _iso(item.due_date),
        "overdue": overdue_after is not None and item.overdue(overdue_after),
    }


def trace_json(trace: ledger.Trace) -> dict[str, Any]:
    letter = trace.document
    return {
        "document_id": str(letter.id),
        "kind": letter.kind,
        "sender": letter.sender,
        "edxml_document_id": letter.edxml_document_id,
        "business_type": letter.business_type,
        "subject": letter.subject,
        "signature": letter.signature,
        "unsigned_legacy": letter.unsigned_legacy,
        "received_at": letter.received_at.isoformat(),
        "due_date": _iso(letter.due_date),
        # The signed bytes are never changed, so the axis's own hop is shown here, not appended.
        "hops": [
            *letter.summary.get("trace", []),
            {"organ_id": "axis", "timestamp": letter.received_at.isoformat()},
        ],
        "refers_to": [
            {
                "document_id": str(link.document_id),
                "kind": link.kind,
                "edxml_document_id": link.edxml_document_id,
            }
            for link in trace.refers_to
        ],
        "referred_by": [
            {
                "document_id": str(link.document_id),
                "kind": link.kind,
                "edxml_document_id": link.edxml_document_id,
                "received_at": _iso(link.received_at),
            }
            for link in trace.referred_by
        ],
        "recall": {
            "asked": trace.recall.asked,
            "agreed_by": trace.recall.agreed_by,
            "refused_by": trace.recall.refused_by,
        },
        "recipients": [
            {
                "organ_id": line.organ_id,
                "name": line.name,
                "delivery_id": str(line.delivery_id),
                "state": line.state,
                "available_at": _iso(line.available_at),
                "acknowledged_at": _iso(line.acknowledged_at),
                "failed_at": _iso(line.failed_at),
                "last_error": line.last_error,
                "current_status": line.current_status,
                "statuses": [
                    {
                        "status_document_id": str(s.document_id),
                        "code": s.code,
                        "label_vi": s.label_vi,
                        "label_en": s.label_en,
                        "posted_by": s.posted_by,
                        "by": s.by,
                        "at": s.at.isoformat(),
                        "description": s.description,
                    }
                    for s in line.statuses
                ],
            }
            for line in trace.recipients
        ],
    }


async def caller(request: web.Request) -> Agency:
    """The agency whose bearer token came with the request; 401 otherwise."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "send the agency's API token as 'Authorization: Bearer <token>'", where="Authorization"
        )
    token = token.strip()
    if not token.isascii() or not token.isprintable():
        # Tokens are URL-safe ASCII; other bytes arrive as surrogates that cannot even be hashed.
        raise Unauthorized("the API token is not valid", where="Authorization")
    hub = request.app[HUB]
    cache = hub.token_cache
    cached = cache.get(token)
    if cached is not None:
        check_client_certificate(request, cached)
        return cached
    generation = cache.generation
    async with hub.db.connection() as conn:
        agency = await agencies.by_token(conn, token)
    if agency is None:
        raise Unauthorized("the API token is not valid", where="Authorization")
    if not agency.active:
        raise Unauthorized(f"agency {agency.organ_id} is disabled", where="Authorization")
    check_client_certificate(request, agency)
    cache.put(token, agency, generation)
    return agency


def check_client_certificate(request: web.Request, agency: Agency) -> None:
    """Under mutual TLS the certificate presented must be one registered for the token's agency."""
    ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
    if ssl_object is None:
        return
    der = ssl_object.getpeercert(binary_form=True)
    if der is None:
        return  # TLS without client certificates: the token alone authenticates
    presented = hashlib.sha256(der).hexdigest()
    if presented not in agency.fingerprints:
        raise Forbidden(
            f"the TLS client certificate ({presented[:16]}…) is not registered for {agency.organ_id}",
            where="tls_client_certificate",
        )


def _int_param(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, not {raw!r}", where=name) from None


def _float_param(request: web.Request, name: str, default: float) -> float:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a number of seconds, not {raw!r}", where=name) from None
    if value != value:  # NaN
        raise BadRequest(f"{name} must be a number of seconds", where=name)
    return value


async def read_body(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(
            f"the package is {request.content_length} bytes; the limit is {limit}", where="body"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the package is over the limit of {limit} bytes", where="body")
        chunks.append(chunk)
    if not size:
        raise BadRequest(
            "the body is empty; send the signed edXML package as the body", where="body"
        )
    return b"".join(chunks)


async def list_agencies(request: web.Request) -> web.Response:
    await caller(request)
    hub = request.app[HUB]
    async with hub.db.connection() as conn:
        found = await agencies.list_all(conn)
    return json_response({"agencies": [a.public() for a in found]})


async def send_document(request: web.Request) -> web.Response:
    agency = await caller(request)
    hub = request.app[HUB]
    data = await read_body(request, hub.config.max_document_bytes)
    accepted = await ingest.submit(hub, agency, data)
    headers = {"Location": f"/v1/documents/{accepted.document_id}"}
    if accepted.repeated:
        headers["X-Axis-Repeated"] = "true"
    return json_response(accepted.stored_form(), status=202, headers=headers)


async def stream_blob(
    request: web.Request,
    sha256: str,
    size: int,
    content_type: str,
    *,
    within: str | None = None,
    **headers: str,
) -> web.StreamResponse:
    """Stream stored bytes as the answer (every door's downloads use this; `within`: the package
    that carries an attachment, see delivery.open_bytes). The first chunk is read before the
    status goes out, so missing bytes are still a clean error."""
    first, chunks = await delivery.open_bytes(request.app[HUB], sha256, within=within)
    response = web.StreamResponse(
        headers={"Content-Type": content_type, "Content-Length": str(size), **headers}
    )
    await response.prepare(request)
    await response.write(first)
    async for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response


async def get_document(request: web.Request) -> web.StreamResponse:
    agency = await caller(request)
    doc = await delivery.document_for(request.app[HUB], agency, request.match_info["id"])
    return await stream_blob(
        request,
        doc.content_sha256,
        doc.size,
        "application/xml",
        **{
            "X-Axis-Kind": doc.kind,
            "X-Axis-Signature-Kind": doc.signature,
            "ETag": f'"{doc.content_sha256}"',
        },
    )


async def get_attachment(request: web.Request) -> web.StreamResponse:
    agency = await caller(request)
    found = await delivery.attachment_for(
        request.app[HUB], agency, request.match_info["id"], request.match_info["ref"]
    )
    from urllib.parse import quote

    disposition = f"attachment; filename*=UTF-8''{quote(found.name)}"
    return await stream_blob(
        request,
        found.sha256,
        found.size,
        found.content_type,
        within=found.package_sha256,
        **{"Content-Disposition": disposition},
    )


async def get_receipt(request: web.Request) -> web.Response:
    agency = await caller(request)
    doc = await delivery.document_for(request.app[HUB], agency, request.match_info["id"])
    if doc.sender != agency.organ_id or doc.acceptance is None:
        raise BadRequest("only the sender of a letter has its acceptance receipt", where="document")
    return json_response(doc.acceptance["receipt"])


async def get_proof(request: web.Request) -> web.Response:
    """The audit entries about a letter with the links to a sealed checkpoint (sender and recipients)."""
    agency = await caller(request)
    hub = request.app[HUB]
    doc = await delivery.document_for(hub, agency, request.match_info["id"])
    policy = CheckpointPolicy.from_config(hub.config)
    return json_response(
        await audit_proof(hub.db, hub.seal, policy, doc.id, viewer=agency.organ_id)
    )


def _flag_param(request: web.Request, name: str) -> bool:
    raw = request.query.get(name)
    if raw is None or raw.lower() in ("0", "false", "no", ""):
        return False
    if raw.lower() in ("1", "true", "yes"):
        return True
    raise BadRequest(f"{name} must be 1 or 0, not {raw[:40]!r}", where=name)


async def get_inbox(request: web.Request) -> web.Response:
    agency = await caller(request)
    hub = request.app[HUB]
    inline = _flag_param(request, "inline")
    items = await delivery.inbox(
        hub,
        agency,
        wait=_float_param(request, "wait", 0.0),
        limit=_int_param(request, "limit", 100),
    )
    packages = await delivery.inline_packages(hub, items) if inline else {}
    listed = []
    for item in items:
        shown = delivery_json(item)
        data = packages.get(item.delivery_id)
        if data is not None:
            shown["package_base64"] = base64.b64encode(data).decode("ascii")
        listed.append(shown)
    return json_response({"items": listed})


async def ack_delivery(request: web.Request) -> web.Response:
    agency = await caller(request)
    done = await delivery.acknowledge(request.app[HUB], agency, request.match_info["id"])
    result = delivery_json(done.item)
    result["already_acknowledged"] = done.already_acknowledged
    return json_response(result)


async def ack_deliveries(request: web.Request) -> web.Response:
    """POST /v1/deliveries/ack {"ids": [...]}: one answer per id, in the order given."""
    agency = await caller(request)
    raw = await request.read()
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest(
            'the body must be JSON: {"ids": ["<delivery id>", ...]}', where="body"
        ) from None
    if not isinstance(body, dict) or "ids" not in body:
        raise BadRequest(
            'the body must be a JSON object with "ids": a list of delivery ids', where="ids"
        )
    answers = await delivery.acknowledge_many(request.app[HUB], agency, body["ids"])
    results: list[dict[str, Any]] = []
    for answer in answers:
        if answer.item is not None:
            results.append(
                {
                    "id": answer.given,
                    "ok": True,
                    "already_acknowledged": answer.already_acknowledged,
                    "delivery": delivery_json(answer.item),
                }
            )
        else:
            assert answer.error is not None
            results.append({"id": answer.given, "ok": False, **answer.error.to_json()})
    ok = [r for r in results if r["ok"]]
    return json_response(
        {
            "acknowledged": sum(1 for r in ok if not r["already_acknowledged"]),
            "already_acknowledged": sum(1 for r in ok if r["already_acknowledged"]),
            "refused": len(results) - len(ok),
            "results": results,
        }
    )


async def get_seal(request: web.Request) -> web.Response:
    """A status 01's batch seal: its Merkle path and the axis's signature over the batch's root."""
    agency = await caller(request)
    return json_response(await delivery.seal_of(request.app[HUB], agency, request.match_info["id"]))


async def list_deliveries(request: web.Request) -> web.Response:
    agency = await caller(request)
    hub = request.app[HUB]
    items = await delivery.deliveries(
        hub,
        agency,
        state=request.query.get("state"),
        role=request.query.get("role", "sent"),
        limit=_int_param(request, "limit", 100),
    )
    threshold = hub.config.ack_overdue_seconds
    return json_response(
        {"items": [delivery_json(i, threshold, viewer=agency.organ_id) for i in items]}
    )


async def openapi(request: web.Request) -> web.Response:
    from axis.adapters.openapi import document

    return json_response(document())


async def post_status(request: web.Request) -> web.Response:
    agency = await caller(request)
    hub = request.app[HUB]
    data = await read_body(request, hub.config.max_document_bytes)
    accepted = await statuses.post(hub, agency, data, letter_id=request.match_info["id"])
    return json_response(accepted.stored_form(), status=202)


async def get_trace(request: web.Request) -> web.Response:
    agency = await caller(request)
    trace = await delivery.trace(request.app[HUB], agency, request.match_info["id"])
    return json_response(trace_json(trace))


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/v1/openapi.json", openapi)
    r.add_get("/v1/agencies", list_agencies)
    r.add_post("/v1/documents", send_document)
    r.add_get("/v1/documents/{id}", get_document)
    r.add_get("/v1/documents/{id}/attachments/{ref}", get_attachment)
    r.add_get("/v1/documents/{id}/receipt", get_receipt)
    r.add_get("/v1/documents/{id}/proof", get_proof)
    r.add_get("/v1/documents/{id}/seal", get_seal)
    r.add_get("/v1/inbox", get_inbox)
    r.add_post("/v1/deliveries/ack", ack_deliveries)
    r.add_post("/v1/deliveries/{id}/ack", ack_delivery)
    r.add_get("/v1/deliveries", list_deliveries)
    r.add_post("/v1/documents/{id}/status", post_status)
    r.add_get("/v1/documents/{id}/trace", get_trace)


__all__: list[Any] = ["HUB", "setup_routes"]
