"""The /vdxp/ endpoints: each handler checks the SDK's HMAC, translates headers into a call of the
same service functions as /v1 (ingest, statuses, delivery, agencies) and answers in VDXP's JSON.

Every answer, failures included, is HTTP 200: the SDK reads the body of a 200 on every path, while
its sendEdoc path (HttpURLConnection) reads other statuses only through the error stream, in the
platform charset."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

import edoc
from axis.adapters.api import HUB, check_client_certificate, read_body
from axis.adapters.vdxp import protocol as p
from axis.adapters.vdxp import registry
from axis.core import agencies, delivery, ingest, ledger, repo, statuses
from axis.core.agencies import Agency
from axis.core.errors import (
    AxisError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    StoredBytesLost,
    TooLarge,
    Unauthorized,
    Unprocessable,
)
from axis.core.secrets import SecretBox, SecretUnreadable
from axis.hub import Hub
from axis.workers.broker import BrokerUnavailable
from storage.blobs import BlobError
from storage.db import DatabaseUnavailable

log = logging.getLogger("axis.vdxp")

SERVICE_TYPE = "eDoc"
_TIME = "%d/%m/%Y %H:%M:%S"


@functools.lru_cache(maxsize=4)
def _box(env: str, key: str) -> SecretBox:
    return SecretBox.for_settings(env, key)


def box_for(hub: Hub) -> SecretBox:
    return _box(hub.config.env, hub.config.secret_key)


@dataclass
class Call:
    """One authenticated VDXP call: the calling system and its signed parameters."""

    hub: Hub
    request: web.Request
    caller: Agency
    params: dict[str, str]
    _units: list[str] | None = field(default=None, repr=False)

    def param(self, name: str, *fallbacks: str) -> str | None:
        for key in (name, *fallbacks):
            if key in self.params:
                return self.params[key]
        return None

    async def agencies_served(self) -> list[Agency]:
        """The caller and the sub-units it registered: a hub receives for all of them."""
        async with self.hub.db.connection() as conn:
            if self._units is None:
                self._units = await registry.units_of(conn, self.caller.organ_id)
            return [self.caller, *[await agencies.get(conn, u) for u in self._units]]


#: /vdxp's one table from the axis's errors to VDXP ErrorCodes (a subclass takes its nearest
#: base's; anything else is a bad request). Lost stored bytes are the axis's failure: 99.
VDXP_CODES: dict[type[AxisError], str] = {
    Unauthorized: p.AUTH_FAILED,
    BadRequest: p.BAD_REQUEST,
    TooLarge: p.BAD_REQUEST,
    Forbidden: p.FORBIDDEN,
    NotFound: p.NOT_FOUND,
    Conflict: p.CONFLICT,
    Unprocessable: p.REFUSED,
    StoredBytesLost: p.UNAVAILABLE,
    SecretUnreadable: p.UNAVAILABLE,
}


def refusal_of(exc: AxisError) -> p.VdxpRefused:
    code = next(
        (VDXP_CODES[c] for c in type(exc).__mro__ if c in VDXP_CODES),
        p.BAD_REQUEST,
    )
    where = f" ({exc.where})" if exc.where else ""
    prefix = "Khong doc duoc goi tin da luu: " if isinstance(exc, StoredBytesLost) else ""
    return p.VdxpRefused(code, prefix + exc.message + where, axis_code=exc.code)


def _answer(body: dict[str, Any]) -> web.Response:
    return web.Response(
        body=p.dumps(body),
        content_type="application/json",
        headers={"X-Vdxp-Status": body.get("status", "")},
    )


async def authenticate(request: web.Request) -> Call:
    hub = request.app[HUB]
    # Values as sent: bytes that are not UTF-8 stay as surrogates and are given back for the HMAC.
    received = [
        (k.decode("latin-1"), v.decode("utf-8", "surrogateescape")) for k, v in request.raw_headers
    ]
    signed = p.read_signed(received)
    async with hub.db.connection() as conn:
        secret = await registry.secret_of(conn, signed.systemid, box_for(hub))
        if secret is None:
            raise p.VdxpRefused(
                p.AUTH_FAILED, f"He thong {signed.systemid} chua dang ky hoac chua co khoa VDXP"
            )
        p.check_signature(signed, secret, received)
        caller = await agencies.get(conn, signed.systemid)
    # Under mutual TLS the HMAC is not enough: the connection must come with one of the calling
    # system's registered certificates, as for /v1 tokens (captured headers alone then do nothing).
    check_client_certificate(request, caller)
    return Call(hub, request, caller, signed.params())


Operation = Callable[[Call], Awaitable[dict[str, Any] | web.StreamResponse]]


def operation(
    name: str, **on_fail: Any
) -> Callable[[Operation], Callable[[web.Request], Awaitable[web.StreamResponse]]]:
    def wrap(fn: Operation) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        @functools.wraps(fn)
        async def handler(request: web.Request) -> web.StreamResponse:
            try:
                call = await authenticate(request)
                result = await fn(call)
            except p.VdxpRefused as exc:
                refused = exc
            except AxisError as exc:
                refused = refusal_of(exc)
            except (DatabaseUnavailable, BrokerUnavailable) as exc:
                refused = p.VdxpRefused(p.UNAVAILABLE, f"He thong tam thoi khong san sang: {exc}")
            except web.HTTPException as exc:
                refused = p.VdxpRefused(p.BAD_REQUEST, f"Yeu cau khong hop le: {exc.reason}")
            except BlobError as exc:
                refused = p.VdxpRefused(
                    p.UNAVAILABLE, f"Khong doc duoc goi tin da luu ({exc.code})"
                )
            except Exception:
                # Never an HTML page or a /v1 error body: the SDK reads status/ErrorCode or fails.
                log.exception("event=vdxp_error operation=%s", name)
                refused = p.VdxpRefused(p.UNAVAILABLE, "Loi he thong; ma yeu cau co trong nhat ky")
            else:
                if isinstance(result, web.StreamResponse):
                    return result
                return _answer(result)
            log.info(
                "event=vdxp_refused operation=%s code=%s desc=%s",
                name,
                refused.error_code,
                refused.desc,
            )
            return _answer(p.failure(refused, **on_fail))

        return handler

    return wrap


# ---- sending ----------------------------------------------------------------------------------


HASH_FILE = "hash-file"


def _signed_hashes(call: Call) -> list[str]:
    """The hash-file values among the *signed* headers (the SDK writes `hash-file`; a name signed
    twice in different case, as HttpURLConnection leaves it, gives either value)."""
    return [v for k, v in call.params.items() if k.lower() == HASH_FILE]


def _the_file(call: Call, data: bytes) -> bytes:
    """The package without the `\\r\\n` the SDK writes after it, as the signed hash-file names it.
    The SDK's HMAC covers headers only: without a signed hash-file matching the body, headers
    captured from any call could carry a body of an attacker's choice."""
    wanted = [h.strip().lower() for h in _signed_hashes(call) if h.strip()]
    if not wanted:
        sent = p.PREFIX.lower() + HASH_FILE in {k.lower() for k in call.request.headers}
        raise p.VdxpRefused(
            p.BAD_REQUEST,
            "XroadVnpt-hash-file khong nam trong header da ky (sign-header)"
            if sent
            else "Thieu XroadVnpt-hash-file (SHA-256 cua goi tin) trong header da ky",
        )
    bare = data[:-2] if data.endswith(b"\r\n") else data
    for candidate in (bare, data):
        if {p.hash_file(candidate), hashlib.sha256(candidate).hexdigest()} & set(wanted):
            return candidate
    raise p.VdxpRefused(p.BAD_REQUEST, "XroadVnpt-hash-file khong khop voi noi dung goi tin")


@operation("sendEdoc", DocId="")
async def send_edoc(call: Call) -> dict[str, Any]:
    code = (call.param("from") or call.caller.organ_id).strip()
    async with call.hub.db.connection() as conn:
        sender = await registry.acting_as(conn, call.caller, code)
    if sender is None:
        raise p.VdxpRefused(
            p.FORBIDDEN,
            f"Don vi gui {code} khong dung voi ma da dang ky: {call.caller.organ_id}",
        )
    messagetype = (call.param("messagetype") or "edoc").strip().lower()
    if messagetype not in ("edoc", "status"):
        raise p.VdxpRefused(p.BAD_REQUEST, f"messagetype {messagetype} khong hop le (edoc, status)")
    data = await read_body(call.request, call.hub.config.max_document_bytes)
    package = _the_file(call, data)
    accepted: ledger.AcceptedStatus | ledger.AcceptedLetter
    if messagetype == "status":
        accepted = await statuses.post(call.hub, sender, package, letter_id=None)
    else:
        accepted = await ingest.submit(call.hub, sender, package)
    return p.ok(DocId=str(accepted.document_id), unsignedLegacy=accepted.unsigned_legacy)


# ---- receiving --------------------------------------------------------------------------------


def _vn_time(at: datetime | None) -> str:
    return at.astimezone(edoc.VN_TZ).strftime(_TIME) if at is not None else ""


def _parse_vn(value: str | None, name: str) -> datetime | None:
    if not value or not value.strip():
        return None
    for fmt in (_TIME, "%d/%m/%Y"):
        try:
            return datetime.strptime(value.strip(), fmt).replace(tzinfo=edoc.VN_TZ)
        except ValueError:
            continue
    raise p.VdxpRefused(p.BAD_REQUEST, f"{name} phai co dang dd/MM/yyyy HH:mm:ss")


def _filters(call: Call, messagetype: str | None = None) -> dict[str, Any]:
    """The kind (from messagetype) and the dates (fromDate, toDate) a list or a count asks for."""
    asked = messagetype or (call.param("messagetype") or "edoc").strip().lower()
    return {
        "kind": "status" if asked == "status" else "letter",
        "since": _parse_vn(call.param("fromDate"), "fromDate"),
        "until": _parse_vn(call.param("toDate"), "toDate"),
    }


async def _served_codes(call: Call) -> list[str]:
    return [a.organ_id for a in await call.agencies_served()]


def _list_item(item: ledger.DeliveryItem) -> dict[str, Any]:
    return {
        "docId": str(item.delivery_id),
        "serviceType": SERVICE_TYPE,
        "messageType": "status" if item.kind == "status" else "edoc",
        "created_time": _vn_time(item.received_at),
        "updated_time": _vn_time(item.available_at or item.received_at),
        "from": item.sender,
        "to": item.recipient,
        "status": "initial",
        "status_desc": "Chua nhan",
        "documentId": str(item.document_id),
        "subject": p.ascii_text(item.subject or ""),
        "code": item.code or "",
        "statusCode": item.status_code or "",
        "signature": item.signature,
        "unsignedLegacy": item.unsigned_legacy,
    }


@operation("getReceivedEdocList", data=[])
async def get_received_edoc_list(call: Call) -> dict[str, Any]:
    """What waits for the caller and its sub-units, of the asked message type, oldest first:
    all of it, filtered by kind and date in the query."""
    items = await delivery.received(call.hub, await _served_codes(call), **_filters(call))
    return p.ok(data=[_list_item(i) for i in items])


@operation("countReceiveEdoc")
async def count_receive_edoc(call: Call) -> dict[str, Any]:
    # By name, not by the header: a messagetype leaked from an earlier call must not change it.
    count = await delivery.count_received(
        call.hub, await _served_codes(call), **_filters(call, "edoc")
    )
    return p.ok(count=count)


@operation("countReceiveStatus")
async def count_receive_status(call: Call) -> dict[str, Any]:
    count = await delivery.count_received(
        call.hub, await _served_codes(call), **_filters(call, "status")
    )
    return p.ok(count=count)


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID((value or "").strip())
    except ValueError:
        return None


@dataclass(frozen=True)
class Found:
    document: ledger.StoredDocument
    agency: Agency  # who of the caller's set sees it
    delivery_id: uuid.UUID | None  # set when the id named one of their deliveries


async def _find(call: Call, doc_id: str | None, *, deliveries_only: bool = False) -> Found:
    """A docId is a delivery id from the list (or, for a sender, the DocId of sendEdoc)."""
    wanted = _uuid(doc_id)
    if wanted is None:
        raise p.VdxpRefused(
            p.BAD_REQUEST if not doc_id else p.NOT_FOUND,
            f"Khong tim thay van ban {doc_id or '(thieu docId)'}",
        )
    served = await call.agencies_served()
    by_code = {a.organ_id: a for a in served}
    async with call.hub.db.connection() as conn:
        item = await ledger.delivery(conn, wanted)
        if item is not None and item.recipient in by_code:
            agency = by_code[item.recipient]
            document = await ledger.visible_document(conn, agency.organ_id, item.document_id)
            if document is not None:
                return Found(document, agency, wanted)
        if not deliveries_only:
            for agency in served:
                document = await ledger.visible_document(conn, agency.organ_id, wanted)
                if document is not None:
                    return Found(document, agency, None)
    raise p.VdxpRefused(p.NOT_FOUND, f"Khong tim thay van ban {doc_id}")


@operation("getEdoc", data="")
async def get_edoc(call: Call) -> dict[str, Any]:
    found = await _find(call, call.param("docId", "docid"))
    data = await delivery.read_bytes(call.hub, found.document.content_sha256)
    return p.ok(
        data=base64.b64encode(data).decode("ascii"),
        signature=found.document.signature,
        unsignedLegacy=found.document.unsigned_legacy,
    )


async def download_edoc(request: web.Request) -> web.StreamResponse:
    @operation("downloadEdoc")
    async def run(call: Call) -> web.StreamResponse:
        found = await _find(call, call.param("docId", "docid"))
        data = await delivery.read_bytes(call.hub, found.document.content_sha256)
        return web.Response(
            body=data,
            content_type="application/xml",
            headers={"X-Axis-Signature-Kind": found.document.signature},
        )

    return await run(request)


@operation("updateStatus")
async def update_status(call: Call) -> dict[str, Any]:
    status = (call.param("status") or "").strip().lower()
    if status not in ("done", "fail", "processing"):
        raise p.VdxpRefused(
            p.BAD_REQUEST, f"status {status or '(thieu)'} khong hop le (done, fail, processing)"
        )
    found = await _find(call, call.param("docid", "docId"), deliveries_only=True)
    assert found.delivery_id is not None
    description = (call.param("description") or "").strip()
    if status == "done":
        await delivery.acknowledge(call.hub, found.agency, str(found.delivery_id))
    elif status == "fail":
        # The delivery leaves the list as 'failed' with the reason, which its sender sees.
        await delivery.report_failed(call.hub, found.agency, found.delivery_id, description or None)
    else:
        async with call.hub.db.connection() as conn:
            await repo.audit(
                conn,
                "vdxp_processing",
                organ_id=found.agency.organ_id,
                document_id=found.document.id,
                delivery_id=found.delivery_id,
                details={"description": description or None},
            )
    return p.ok()


# ---- following what was sent -----------------------------------------------------------------


def _label(code: str | None) -> str:
    if not code:
        return ""
    try:
        return p.ascii_text(edoc.StatusCode.from_code(code).label_vi)
    except Exception:
        return ""


_SEND = {
    "queued": ("pending", "Dang chuyen"),
    "available": ("sent", "Da chuyen den don vi nhan"),
    "acknowledged": ("sent", "Da chuyen den don vi nhan"),
    "failed": ("fail", "Chuyen that bai"),
}
_RECEIVE = {
    "queued": ("initial", "Chua nhan"),
    "available": ("initial", "Chua nhan"),
    "acknowledged": ("done", "Da nhan"),
    "failed": ("fail", "Don vi nhan bao loi"),
}


@operation("getSentEdocList", data=[])
async def get_sent_edoc_list(call: Call) -> dict[str, Any]:
    doc_id = call.param("docId", "docid")
    wanted = _uuid(doc_id)
    trace = None
    if wanted is not None:
        async with call.hub.db.connection() as conn:
            for agency in await call.agencies_served():
                letter = await ledger.visible_document(conn, agency.organ_id, wanted, kind="letter")
                if letter is not None and letter.sender == agency.organ_id:
                    trace = await ledger.trace(conn, letter, agency.organ_id)
                    break
    if trace is None:
        raise p.VdxpRefused(
            p.NOT_FOUND, f"Khong tim thay van ban da gui {doc_id or '(thieu docId)'}"
        )
    letter = trace.document
    rows = []
    for r in trace.recipients:
        send, send_desc = _SEND.get(r.state, ("pending", ""))
        receive, receive_desc = _RECEIVE.get(r.state, ("initial", ""))
        if r.state == "failed" and r.last_error:
            receive_desc = p.ascii_text(r.last_error)
        current = r.current_status or ""
        rows.append(
            {
                "serviceType": SERVICE_TYPE,
                "messageType": "edoc",
                "senderDocId": str(letter.id),
                "receiverDocId": str(r.delivery_id),
                "fromCode": letter.sender,
                "toCode": r.organ_id,
                "title": p.ascii_text(letter.subject or ""),
                "notation": p.ascii_text(letter.code or ""),
                "sentTime": _vn_time(letter.received_at),
                "receivedTime": _vn_time(r.acknowledged_at),
                "sendStatus": send,
                "sendStatusDesc": send_desc,
                "receiveStatus": receive,
                "receiveStatusDesc": receive_desc,
                "statusCode": current,
                "statusDesc": _label(current),
                "unsignedLegacy": letter.unsigned_legacy,
            }
        )
    return p.ok(data=rows)


# ---- the directory ----------------------------------------------------------------------------


@operation("getAgenciesList", data=[])
async def get_agencies_list(call: Call) -> dict[str, Any]:
    async with call.hub.db.connection() as conn:
        units = await registry.directory(conn, active_only=True)
    return p.ok(
        data=[
            {
                "id": u.organ_id,
                "pid": u.parent or "",
                "code": u.organ_id,
                "name": u.name,
                "mail": u.contact.get("mail", ""),
                "oldCode": "",
            }
            for u in units
        ]
    )


@operation("getAgenciesListQD20", data=[])
async def get_agencies_list_qd20(call: Call) -> dict[str, Any]:
    async with call.hub.db.connection() as conn:
        units = await registry.directory(conn, active_only=True)
    return p.ok(
        data=[
            {
                "id": u.organ_id,
                "code": u.organ_id,
                "name": u.name,
                "mail": u.contact.get("mail", ""),
                "code102": u.organ_id,
            }
            for u in units
        ]
    )


@operation("getSynchronizeUnit", data=[])
async def get_synchronize_unit(call: Call) -> dict[str, Any]:
    async with call.hub.db.connection() as conn:
        units = await registry.directory(conn, active_only=False)
    return p.ok(
        data=[
            {
                "id": u.organ_id,
                "pid": u.parent or "",
                "code": u.organ_id,
                "name": u.name,
                "mail": u.contact.get("mail", ""),
                "version": 1,
                "centerCode": "",
                "deleted": not u.active,
                "modifyDate": u.updated_at.astimezone(edoc.VN_TZ).strftime(_TIME),
                "isAgency": u.parent is None,
            }
            for u in units
        ]
    )


@operation("registerAgency")
async def register_agency(call: Call) -> dict[str, Any]:
    raw = await call.request.read()
    try:
        body = json.loads(raw.decode("utf-8") or "{}")
    except (UnicodeDecodeError, ValueError):
        raise p.VdxpRefused(p.BAD_REQUEST, "Noi dung registerAgency phai la JSON") from None
    if not isinstance(body, dict):
        raise p.VdxpRefused(p.BAD_REQUEST, "Noi dung registerAgency phai la doi tuong JSON")
    async with call.hub.db.connection() as conn:
        code = await registry.register_unit(conn, call.caller, body)
    return p.ok(code=code)


@operation("deleteAgency")
async def delete_agency(call: Call) -> dict[str, Any]:
    code = (call.param("AgencyCode", "agencyCode", "agencycode") or "").strip()
    if not code:
        raise p.VdxpRefused(p.BAD_REQUEST, "Thieu AgencyCode")
    async with call.hub.db.connection() as conn:
        await registry.delete_unit(conn, call.caller, code)
    return p.ok()


def setup_routes(app: web.Application) -> None:
    """Mount the VDXP operations under /vdxp/ (a client's service.endpoint is http://HOST/vdxp)."""
    r = app.router
    for name, handler in (
        ("sendEdoc", send_edoc),
        ("getReceivedEdocList", get_received_edoc_list),
        ("getEdoc", get_edoc),
        ("updateStatus", update_status),
        ("getSentEdocList", get_sent_edoc_list),
        ("countReceiveEdoc", count_receive_edoc),
        ("countReceiveStatus", count_receive_status),
        ("getAgenciesList", get_agencies_list),
        ("getAgenciesListQD20", get_agencies_list_qd20),
        ("getSynchronizeUnit", get_synchronize_unit),
        ("registerAgency", register_agency),
        ("deleteAgency", delete_agency),
    ):
        r.add_post(f"/vdxp/{name}", handler)
    r.add_get("/vdxp/downloadEdoc", download_edoc)
    r.add_post("/vdxp/downloadEdoc", download_edoc)
    r.add_route("*", "/vdxp/{operation}", unknown_operation)


async def unknown_operation(request: web.Request) -> web.Response:
    name = request.match_info["operation"]
    refused = p.VdxpRefused(p.NOT_FOUND, f"Khong co chuc nang {name} tren truc nay")
    return _answer(p.failure(refused))
