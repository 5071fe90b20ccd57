"""Delivery of letters and statuses: the inbox, the lists, fetching what an agency may see,
acknowledgement (with status 01 back to the sender), and a letter's trace.

Services only: they return the ledger's typed records and raise domain errors; /v1, the pages and
/vdxp turn them into their own formats."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

import edoc
from axis.core import audit_proof, ledger
from axis.core.agencies import Agency
from axis.core.errors import AxisError, BadRequest, NotFound, StoredBytesLost, Unauthorized
from axis.core.ids import parse_id
from axis.core.waits import wait_event
from axis.hub import Hub

log = logging.getLogger("axis.delivery")

MAX_WAIT = 60.0
MAX_LIMIT = 500
#: How many rows one read of an unbounded list takes at a time (it pages on by cursor).
PAGE = 500

__all__ = ["MAX_LIMIT", "MAX_WAIT", "parse_id"]


async def inbox(
    hub: Hub, agency: Agency, *, wait: float = 0.0, limit: int = 100
) -> list[ledger.DeliveryItem]:
    """Deliveries available to `agency`, oldest first; with `wait`, returns as soon as one arrives."""
    if not 0 <= wait <= MAX_WAIT:
        raise BadRequest(f"wait must be between 0 and {MAX_WAIT:g} seconds", where="wait")
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}", where="limit")
    event = hub.inbox.register(agency.organ_id)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        woken = False
        while True:
            event.clear()
            async with hub.db.connection() as conn:
                if woken:
                    # The agency may have been disabled or its token rotated while this call waited.
                    await _still_authorized(conn, agency)
                items = await ledger.inbox(conn, [agency.organ_id], limit=limit)
            remaining = deadline - loop.time()
            if items or remaining <= 0:
                return items
            await wait_event(event, remaining)
            woken = True
    finally:
        hub.inbox.unregister(agency.organ_id, event)


#: `GET /v1/inbox?inline=1` carries a package in the answer when it is at most this many bytes,
INLINE_MAX_BYTES = 64 * 1024
#: while the packages of one answer stay within this many bytes (the rest are fetched as before).
INLINE_BUDGET = 2 * 1024 * 1024
INLINE_PARALLEL = 8


async def inline_packages(hub: Hub, items: list[ledger.DeliveryItem]) -> dict[uuid.UUID, bytes]:
    """The stored bytes of the small packages among `items`, oldest first within the budget, by
    delivery id: those kept in PostgreSQL in one query, any others from the blob store. One that
    cannot be read is left out (fetching it answers why), never failing the list."""
    picked: list[ledger.DeliveryItem] = []
    budget = INLINE_BUDGET
    for item in items:
        if item.size <= INLINE_MAX_BYTES and item.size <= budget:
            picked.append(item)
            budget -= item.size
    if not picked:
        return {}
    async with hub.db.connection() as conn:
        kept = await ledger.stored_bytes_many(conn, list({i.content_sha256 for i in picked}))
    good: dict[str, bytes] = {}
    for sha256, data in kept.items():
        with contextlib.suppress(StoredBytesLost):  # logged; the fetch answers why
            good[sha256] = _checked(sha256, data)
    found = {i.delivery_id: good[i.content_sha256] for i in picked if i.content_sha256 in good}
    gate = asyncio.Semaphore(INLINE_PARALLEL)

    async def read(item: ledger.DeliveryItem) -> tuple[uuid.UUID, bytes | None]:
        async with gate:
            try:
                return item.delivery_id, await read_bytes(hub, item.content_sha256)
            except StoredBytesLost:
                return item.delivery_id, None

    elsewhere = [i for i in picked if i.content_sha256 not in kept]
    for delivery_id, read_data in await asyncio.gather(*(read(i) for i in elsewhere)):
        if read_data is not None:
            found[delivery_id] = read_data
    return found


async def received(
    hub: Hub,
    organ_ids: list[str],
    *,
    kind: str,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[ledger.DeliveryItem]:
    """Every delivery of `kind` available to any of `organ_ids`, received by the axis between
    `since` and `until`, oldest first: filtered in SQL and read page by page, so none is hidden
    behind others of another kind or date."""
    items: list[ledger.DeliveryItem] = []
    async with hub.db.connection() as conn:
        while True:
            page = await ledger.inbox(
                conn,
                organ_ids,
                kind=kind,
                since=since,
                until=until,
                after_seq=items[-1].seq if items else 0,
                limit=PAGE,
            )
            items += page
            if len(page) < PAGE:
                return items


async def count_received(
    hub: Hub,
    organ_ids: list[str],
    *,
    kind: str,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    async with hub.db.connection() as conn:
        return await ledger.count_inbox(conn, organ_ids, kind=kind, since=since, until=until)


async def _still_authorized(conn: asyncpg.Connection, agency: Agency) -> None:
    row = await conn.fetchrow(
        "SELECT active, token_hash FROM agencies WHERE organ_id = $1", agency.organ_id
    )
    if row is None or row["token_hash"] != agency.token_hash:
        raise Unauthorized("the API token is not valid", where="Authorization")
    if not row["active"]:
        raise Unauthorized(f"agency {agency.organ_id} is disabled", where="Authorization")


STATES = ("queued", "available", "acknowledged", "failed", "overdue")


async def deliveries(
    hub: Hub, agency: Agency, *, state: str | None, role: str, limit: int
) -> list[ledger.DeliveryItem]:
    """Deliveries of the letters `agency` sent (role=sent) or received (role=received), by state."""
    if state is not None and state not in STATES:
        raise BadRequest(f"state must be one of {', '.join(STATES)}", where="state")
    if role not in ("sent", "received"):
        raise BadRequest("role must be sent or received", where="role")
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}", where="limit")
    async with hub.db.connection() as conn:
        return await ledger.deliveries(
            conn,
            agency.organ_id,
            role=role,
            state=state,
            limit=limit,
            overdue_after=hub.config.ack_overdue_seconds,
        )


async def visible(
    conn: asyncpg.Connection, agency: Agency, document_id: str
) -> ledger.StoredDocument:
    doc = await ledger.visible_document(conn, agency.organ_id, parse_id(document_id, "document"))
    if doc is None:
        raise NotFound(
            f"no document {document_id} addressed to or sent by {agency.organ_id}", where="document"
        )
    return doc


async def document_for(hub: Hub, agency: Agency, document_id: str) -> ledger.StoredDocument:
    """The document, if `agency` sent it or is one of its recipients; NotFound otherwise (no leak)."""
    async with hub.db.connection() as conn:
        return await visible(conn, agency, document_id)


def _storable_text(value: str) -> bool:
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def attachment_for(
    hub: Hub, agency: Agency, document_id: str, ref: str
) -> ledger.StoredAttachment:
    """An attachment (by position or ContentId) of a document `agency` may see."""
    async with hub.db.connection() as conn:
        doc = await visible(conn, agency, document_id)
        # PostgreSQL text holds neither NUL nor lone surrogates: no stored ContentId can match.
        found = await ledger.attachment(conn, doc.id, ref) if _storable_text(ref) else None
    if found is None:
        raise NotFound(f"document {document_id} has no attachment {ref!r}", where="attachment")
    return found


async def trace(hub: Hub, agency: Agency, document_id: str) -> ledger.Trace:
    """A letter's life as `agency` may see it (ledger.trace)."""
    async with hub.db.connection() as conn:
        doc = await visible(conn, agency, document_id)
        return await ledger.trace(conn, doc, agency.organ_id)


# ---------------------------------------------------------------- stored bytes
#
# A document's bytes live in one of two places: a small package in PostgreSQL (stored_bytes,
# written by the transaction that recorded it), anything else in the blob store. Every reader
# comes through `open_bytes`, which knows both and checks the SHA-256 of what it read. A small
# letter's attachments are not stored apart: they are read out of the package (`within`).


def _unreadable(sha256: str, code: str) -> StoredBytesLost:
    log.error("event=blob_unreadable sha256=%s error=%r", sha256, code)
    return StoredBytesLost(f"the stored bytes are unreadable ({code}); the operators are alerted")


def _checked(sha256: str, data: bytes) -> bytes:
    """Bytes read from PostgreSQL, if they are still the bytes their name says."""
    if hashlib.sha256(data).hexdigest() != sha256:
        raise _unreadable(sha256, "blob_corrupt")
    return data


async def _inline(hub: Hub, sha256: str) -> bytes | None:
    """Bytes kept in PostgreSQL, checked against their name; None when not kept there."""
    async with hub.db.connection() as conn:
        data = await ledger.stored_bytes(conn, sha256)
    return None if data is None else _checked(sha256, data)


async def _nothing() -> AsyncIterator[bytes]:
    """The rest of bytes read whole: nothing."""
    empty: tuple[bytes, ...] = ()
    for chunk in empty:
        yield chunk


async def _failing(error: Exception) -> AsyncIterator[bytes]:
    """Bytes that fail as they are read (the push counts a failed attempt)."""
    raise error
    yield b""  # pragma: no cover - makes this an async generator


def _attachment_in(package: bytes, sha256: str) -> bytes | None:
    try:
        parsed = edoc.parse(package)
    except edoc.EdocError:
        return None
    for attachment in parsed.attachments:
        if attachment.sha256 == sha256 and attachment.data is not None:
            return attachment.data
    return None


async def open_bytes(
    hub: Hub, sha256: str, *, within: str | None = None
) -> tuple[bytes, AsyncIterator[bytes]]:
    """The first chunk of stored bytes and the rest: the first is read before anything is
    answered, so bytes that cannot be read are StoredBytesLost, not a broken answer.

    `within`: the SHA-256 of the package that carries these bytes (an attachment), read when
    they are not stored on their own."""
    from storage.blobs import BlobError

    data = await _inline(hub, sha256)
    if data is None and within is not None:
        package = await _inline(hub, within)
        if package is not None:
            data = await asyncio.to_thread(_attachment_in, package, sha256)
            if data is None or hashlib.sha256(data).hexdigest() != sha256:
                raise _unreadable(sha256, "attachment_not_in_package")
    if data is not None:
        return data, _nothing()
    chunks = hub.blobs.open(sha256).__aiter__()
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        first = b""
    except BlobError as exc:
        raise _unreadable(sha256, exc.code) from None
    return first, chunks


async def read_bytes(hub: Hub, sha256: str, *, within: str | None = None) -> bytes:
    """All the stored bytes at once (VDXP answers them in one body)."""
    from storage.blobs import BlobError

    first, rest = await open_bytes(hub, sha256, within=within)
    try:
        return first + b"".join([chunk async for chunk in rest])
    except BlobError as exc:
        raise _unreadable(sha256, exc.code) from None


async def push_body(hub: Hub, sha256: str) -> bytes | AsyncIterator[bytes]:
    """A document's bytes for a webhook POST: whole when kept in PostgreSQL, else streamed from
    the blob store; bytes that cannot be read fail while read (storage.blobs.BlobError)."""
    from storage.blobs import BlobCorrupt

    async with hub.db.connection() as conn:
        data = await ledger.stored_bytes(conn, sha256)
    if data is None:
        return hub.blobs.open(sha256)
    found = hashlib.sha256(data).hexdigest()
    if found != sha256:
        return _failing(BlobCorrupt(sha256, found, len(data)))
    return data


async def keep_in_blob_store(hub: Hub, sha256: str, *, within: str | None = None) -> None:
    """Make sure the blob store holds these bytes (for a reader that reads only the blob store,
    such as meetings/ papers): copied there from PostgreSQL or the package when kept there."""
    if await hub.blobs.exists(sha256):
        return
    await hub.blobs.put(await read_bytes(hub, sha256, within=within))


# ---------------------------------------------------------------- transitions


async def make_available(hub: Hub, delivery_id: uuid.UUID) -> bool:
    """A pull delivery reached its agency's queue: it shows in the inbox. Idempotent."""
    async with hub.db.connection() as conn:
        return await ledger.make_available(conn, delivery_id) is not None


async def acknowledge(
    hub: Hub, agency: Agency, delivery_id: str, *, via: str = "api"
) -> ledger.Acknowledged:
    """The recipient has the document: recorded once (with others arriving at the same time, in
    one transaction), and for a letter its status 01 (arrived) is left for the sealer to seal
    and send to the sender. Acknowledging again gives the same delivery, already acknowledged."""
    did = parse_id(delivery_id, "delivery")
    [outcome] = await hub.acks.acknowledge(hub.db, [ledger.AckRequest(did, agency.organ_id, via)])
    if isinstance(outcome, BaseException):
        raise outcome
    if outcome.item is None:
        raise NotFound(f"no delivery {delivery_id} for {agency.organ_id}", where="delivery")
    return ledger.Acknowledged(outcome.item, already_acknowledged=not outcome.newly)


#: How many delivery ids one batch acknowledgement takes at most.
MAX_ACK_IDS = 500


@dataclass(frozen=True)
class AckAnswer:
    """One id of a batch acknowledgement: the delivery as it now stands, or why not."""

    given: str | None  # the id as sent (cut to 100 characters), None when it was no string
    item: ledger.DeliveryItem | None = None
    already_acknowledged: bool = False
    error: AxisError | None = None


async def acknowledge_many(hub: Hub, agency: Agency, ids: object) -> list[AckAnswer]:
    """Acknowledge many deliveries of `agency` in one call, each as `acknowledge` would, one
    answer per id in the order given. A malformed id, a repeat of an earlier one, or an id that
    is not one of `agency`'s deliveries (another agency's answers the same: not found) is answered
    on its own line; the others are acknowledged. Only a request that is not a list of 1 to
    MAX_ACK_IDS ids is refused whole."""
    if not isinstance(ids, list):
        raise BadRequest('"ids" must be a list of delivery ids', where="ids")
    if not ids:
        raise BadRequest('"ids" is empty: send at least one delivery id', where="ids")
    if len(ids) > MAX_ACK_IDS:
        raise BadRequest(f'"ids" holds {len(ids)} ids; at most {MAX_ACK_IDS} per call', where="ids")
    answers: list[AckAnswer | None] = [None] * len(ids)
    first: dict[uuid.UUID, int] = {}
    for i, raw in enumerate(ids):
        where = f"ids[{i}]"
        if not isinstance(raw, str):
            answers[i] = AckAnswer(
                None,
                error=BadRequest(
                    f"{where} is a {type(raw).__name__}, not a delivery id (a UUID string)",
                    where=where,
                ),
            )
            continue
        given = raw[:100]
        try:
            did = uuid.UUID(raw)
        except ValueError:
            answers[i] = AckAnswer(
                given,
                error=BadRequest(f"{where} is not a delivery id (a UUID): {given!r}", where=where),
            )
            continue
        if did in first:
            answers[i] = AckAnswer(
                given,
                error=BadRequest(
                    f"{where} repeats ids[{first[did]}]; each delivery is answered once, there",
                    where=where,
                    code="duplicate",
                ),
            )
            continue
        first[did] = i
    if first:
        outcomes = await hub.acks.acknowledge(
            hub.db, [ledger.AckRequest(did, agency.organ_id, "api") for did in first]
        )
        if all(isinstance(o, BaseException) for o in outcomes):
            failed = outcomes[0]
            assert isinstance(failed, BaseException)
            raise failed
        for (did, i), outcome in zip(first.items(), outcomes, strict=True):
            given = str(ids[i])[:100]
            where = f"ids[{i}]"
            if isinstance(outcome, BaseException):
                log.error("event=ack_failed delivery_id=%s error=%r", did, outcome)
                answers[i] = AckAnswer(
                    given,
                    error=AxisError(
                        "the axis failed to acknowledge this one; the others are not affected, "
                        "try it again",
                        where=where,
                        code="internal_error",
                    ),
                )
            elif outcome.item is None:
                answers[i] = AckAnswer(
                    given,
                    error=NotFound(f"no delivery {given} for {agency.organ_id}", where=where),
                )
            else:
                answers[i] = AckAnswer(given, outcome.item, not outcome.newly)
    return [a for a in answers if a is not None]


async def acknowledge_push(hub: Hub, delivery_id: uuid.UUID) -> bool:
    """A push went through: the delivery is delivered and acknowledged at once (its status 01 is
    sealed later). False when another process recorded it first."""
    [outcome] = await hub.acks.acknowledge(hub.db, [ledger.AckRequest(delivery_id, None, "push")])
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome.newly


async def seal_of(hub: Hub, agency: Agency, document_id: str) -> dict[str, Any]:
    """The batch seal of a status 01 `agency` may see (the letter's sender or its recipient):
    the package's hash and leaf, its Merkle path and the axis's signature over the batch's root,
    all an agency needs to check the status offline (`axis audit check-proof`)."""
    async with hub.db.connection() as conn:
        doc = await visible(conn, agency, document_id)
        found = await ledger.status_seal(conn, doc.id) if doc.kind == "status" else None
    if found is None:
        raise NotFound(
            f"document {document_id} is not a status sealed in a batch (status 01 written by the "
            "axis is; a posted status carries its own XML signature)",
            where="document",
        )
    return audit_proof.status_seal_document(
        document_id=str(found.status_id),
        responds_to=str(found.responds_to),
        package_sha256=found.package_sha256,
        leaf=found.leaf,
        index=found.leaf_index,
        path=found.path,
        batch=found.sealed,
    )


async def report_failed(
    hub: Hub, agency: Agency, delivery_id: uuid.UUID, description: str | None
) -> bool:
    """The recipient could not take the document (VDXP updateStatus fail)."""
    async with hub.db.connection() as conn, conn.transaction():
        return await ledger.refused_by_recipient(conn, delivery_id, agency.organ_id, description)
