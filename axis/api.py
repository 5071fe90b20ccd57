"""The /v1 HTTP API: handlers only translate HTTP into service calls and results into HTTP."""

from __future__ import annotations

import hashlib
from typing import Any

from aiohttp import web

from axis import agencies, delivery, ingest, receipts
from axis.agencies import Agency
from axis.audit import CheckpointPolicy
from axis.audit import proof as audit_proof
from axis.errors import AxisError, BadRequest, Forbidden, TooLarge, Unauthorized
from axis.hub import Hub
from storage.blobs import BlobError


class BlobMissing(AxisError):
    code = "blob_unreadable"
    status = 500


HUB = web.AppKey("hub", Hub)


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
    return web.json_response({"agencies": [a.public() for a in found]})


async def send_document(request: web.Request) -> web.Response:
    agency = await caller(request)
    hub = request.app[HUB]
    data = await read_body(request, hub.config.max_document_bytes)
    accepted = await ingest.submit(hub, agency, data)
    headers = {"Location": f"/v1/documents/{accepted.body['document_id']}"}
    if accepted.repeated:
        headers["X-Axis-Repeated"] = "true"
    return web.json_response(accepted.body, status=accepted.status, headers=headers)


async def _stream_blob(
    request: web.Request, sha256: str, size: int, content_type: str, **headers: str
) -> web.StreamResponse:
    hub = request.app[HUB]
    chunks = hub.blobs.open(sha256).__aiter__()
    # The first chunk is read before the status goes out, so a missing blob is still a clean error.
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        first = b""
    except BlobError as exc:
        raise BlobMissing(
            f"the stored bytes are unreadable ({exc.code}); the operators are alerted"
        ) from None
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
    row = await delivery.document_for(request.app[HUB], agency, request.match_info["id"])
    return await _stream_blob(
        request,
        row["content_sha256"],
        row["size"],
        "application/xml",
        **{
            "X-Axis-Kind": row["kind"],
            "X-Axis-Signature-Kind": row["signature"],
            "ETag": f'"{row["content_sha256"]}"',
        },
    )


async def get_attachment(request: web.Request) -> web.StreamResponse:
    agency = await caller(request)
    row = await delivery.attachment_for(
        request.app[HUB], agency, request.match_info["id"], request.match_info["ref"]
    )
    from urllib.parse import quote

    disposition = f"attachment; filename*=UTF-8''{quote(row['name'])}"
    return await _stream_blob(
        request,
        row["sha256"],
        row["size"],
        row["content_type"],
        **{"Content-Disposition": disposition},
    )


async def get_receipt(request: web.Request) -> web.Response:
    agency = await caller(request)
    row = await delivery.document_for(request.app[HUB], agency, request.match_info["id"])
    if row["sender"] != agency.organ_id or row["receipt"] is None:
        raise BadRequest("only the sender of a letter has its acceptance receipt", where="document")
    import json

    return web.json_response(json.loads(row["receipt"])["receipt"])


async def get_proof(request: web.Request) -> web.Response:
    """The audit entries about a letter with the links to a sealed checkpoint (sender and recipients)."""
    agency = await caller(request)
    hub = request.app[HUB]
    row = await delivery.document_for(hub, agency, request.match_info["id"])
    policy = CheckpointPolicy.from_config(hub.config)
    return web.json_response(
        await audit_proof(hub.db, hub.seal, policy, row["id"], viewer=agency.organ_id)
    )


async def get_inbox(request: web.Request) -> web.Response:
    agency = await caller(request)
    items = await delivery.inbox(
        request.app[HUB],
        agency,
        wait=_float_param(request, "wait", 0.0),
        limit=_int_param(request, "limit", 100),
    )
    return web.json_response({"items": items})


async def ack_delivery(request: web.Request) -> web.Response:
    agency = await caller(request)
    result = await delivery.acknowledge(request.app[HUB], agency, request.match_info["id"])
    return web.json_response(result)


async def list_deliveries(request: web.Request) -> web.Response:
    agency = await caller(request)
    items = await delivery.deliveries(
        request.app[HUB],
        agency,
        state=request.query.get("state"),
        role=request.query.get("role", "sent"),
        limit=_int_param(request, "limit", 100),
    )
    return web.json_response({"items": items})


async def openapi(request: web.Request) -> web.Response:
    from axis.openapi import document

    return web.json_response(document())


async def post_status(request: web.Request) -> web.Response:
    agency = await caller(request)
    hub = request.app[HUB]
    data = await read_body(request, hub.config.max_document_bytes)
    body = await receipts.post_status(hub, agency, data, letter_id=request.match_info["id"])
    return web.json_response(body, status=202)


async def get_trace(request: web.Request) -> web.Response:
    agency = await caller(request)
    return web.json_response(
        await receipts.trace(request.app[HUB], agency, request.match_info["id"])
    )


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/v1/openapi.json", openapi)
    r.add_get("/v1/agencies", list_agencies)
    r.add_post("/v1/documents", send_document)
    r.add_get("/v1/documents/{id}", get_document)
    r.add_get("/v1/documents/{id}/attachments/{ref}", get_attachment)
    r.add_get("/v1/documents/{id}/receipt", get_receipt)
    r.add_get("/v1/documents/{id}/proof", get_proof)
    r.add_get("/v1/inbox", get_inbox)
    r.add_post("/v1/deliveries/{id}/ack", ack_delivery)
    r.add_get("/v1/deliveries", list_deliveries)
    r.add_post("/v1/documents/{id}/status", post_status)
    r.add_get("/v1/documents/{id}/trace", get_trace)


__all__: list[Any] = ["HUB", "setup_routes"]
