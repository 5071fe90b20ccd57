"""Statuses, whoever makes them: 01 (arrived) written by the axis when a recipient acknowledges,
a status an agency posts (/v1 and /vdxp; 13 from a sender, the others from a recipient), and a
recall (13) a clerk asks for on the pages. Each is checked or built here, then goes through one
function, `record`, that writes its summary, acceptance, deliveries and audit entry."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

import edoc
from axis import metrics
from axis.core import audit_proof, ledger
from axis.core.agencies import Agency
from axis.core.errors import BadRequest, Conflict, Forbidden, NotFound
from axis.core.ids import parse_id, uuid7
from axis.core.ingest import check_package
from axis.core.ledger.rules import RECALL_ANSWERS, transition_error
from axis.hub import Hub

log = logging.getLogger("axis.statuses")

__all__ = [
    "RECALL_ANSWERS",
    "Made",
    "ask_recall",
    "post",
    "record",
    "seal_pending",
    "transition_error",
]


@dataclass(frozen=True)
class Made:
    """A status package ready to record: read (or built) and its bytes in the blob store."""

    message: edoc.StatusMessage
    stored_sha256: str
    size: int
    signature: str  # "xmldsig" or "legacy" (posted by an agency), "axis" (built and sealed here)
    signer_fingerprint: str | None = None
    #: SHA-256 of the bytes as an agency posted them: the same package again is answered once.
    received_sha256: str | None = None
    #: The package's bytes when small enough to be stored by the transaction that records it.
    inline: bytes | None = None


async def store(hub: Hub, data: bytes) -> tuple[str, int, bytes | None]:
    """Where a status package's bytes go: (sha256, size, the bytes themselves when they are to be
    stored with its rows, AXIS_INLINE_MAX_BYTES), else into the blob store now."""
    if len(data) <= hub.config.inline_max_bytes:
        return hashlib.sha256(data).hexdigest(), len(data), data
    stored = await hub.blobs.put(data)
    return stored.sha256, stored.size, None


async def seal(hub: Hub, message: edoc.StatusMessage) -> Made:
    """A status the axis writes for someone (01 for a recipient, 13 for a clerk): built in edXML,
    sealed by the axis (the agency's signing key is not here), and stored."""
    data = await asyncio.to_thread(hub.seal.sign_document, edoc.build(edoc.Package(header=message)))
    sha256, size, inline = await store(hub, data)
    return Made(message, sha256, size, "axis", inline=inline)


async def record(
    conn: asyncpg.Connection,
    hub: Hub,
    *,
    letter: ledger.StoredDocument,
    author: str,
    made: Made,
    by: str,
    targets: list[str],
    about_delivery: uuid.UUID | None = None,
    answer: bool = True,
    audit: dict[str, Any] | None = None,
) -> ledger.AcceptedStatus:
    """The one way a status is stored, in the caller's transaction: its summary, the acceptance
    (with a receipt sealed by the axis when `answer`: someone posted or asked for it), one delivery
    per target, and one 'status' audit entry on the letter. `by` is axis, agency or clerk;
    `about_delivery` is the recipient's delivery whose line the status belongs to."""
    message = made.message
    code = message.status_code.code
    status_id = uuid7()
    deliveries = [ledger.NewDelivery(uuid7(), organ) for organ in targets]
    listed = [{"delivery_id": str(d.delivery_id), "recipient": d.recipient} for d in deliveries]
    receipt: dict[str, Any] = {}
    if answer:
        receipt = hub.seal.sign_json(
            {
                "type": "status_acceptance",
                "document_id": str(status_id),
                "responds_to": str(letter.id),
                "status_code": code,
                "from": author,
                "sha256": made.received_sha256 or made.stored_sha256,
                "deliveries": listed,
            }
        )
    accepted = ledger.AcceptedStatus(
        document_id=status_id,
        status_code=code,
        responds_to=letter.id,
        signature=made.signature,
        deliveries=deliveries,
        receipt=receipt,
    )
    summary = _summary(message, author, letter.id)
    await ledger.insert_status(
        conn,
        ledger.NewStatus(
            id=status_id,
            sender=author,
            letter=letter,
            code=code,
            stored_sha256=made.stored_sha256,
            size=made.size,
            signature=made.signature,
            signer_fingerprint=made.signer_fingerprint,
            summary=summary,
            acceptance=accepted.stored_form() if answer else None,
            received_sha256=made.received_sha256,
            deliveries=deliveries,
            audit_delivery_id=about_delivery,
            inline=made.inline,
            audit={
                "status_code": code,
                "status_document_id": str(status_id),
                "recipient": author if author != letter.sender else None,
                "signature": made.signature,
                "by": by,
                **(audit or {}),
            },
        ),
    )
    metrics.STAGE.labels(f"status_{code}").inc()
    return accepted


# ---------------------------------------------------------------- 01, by the axis, in batches

#: How many status 01 one batch seals at most (one signature, one transaction).
SEAL_BATCH = 256
#: Status packages stored at once while a batch is sealed.
STORE_PARALLEL = 8

ARRIVED_DESCRIPTION = "Đã đến (arrived): xác nhận bởi trục liên thông khi đơn vị nhận tải văn bản"


def arrived_message(arrival: ledger.Arrival) -> edoc.StatusMessage:
    """Status 01 for a letter's delivery, From its recipient, timed at its acknowledgement: built
    again after a crash, it is the very same package."""
    return edoc.StatusMessage(
        from_=edoc.Organization(organ_id=arrival.recipient, organ_name=arrival.recipient_name),
        response_for=edoc.ResponseFor(
            organ_id=arrival.sender,
            code=arrival.code,
            document_id=arrival.edxml_document_id,
            promulgation_date=arrival.promulgation_date,
        ),
        status_code=edoc.StatusCode.ARRIVED,
        timestamp=arrival.acknowledged_at.astimezone(UTC).replace(microsecond=0),
        description=ARRIVED_DESCRIPTION,
    )


def _build_batch(
    arrivals: list[ledger.Arrival],
) -> tuple[list[tuple[edoc.StatusMessage, bytes]], str, list[list[dict[str, str]]]]:
    """The batch's packages, the Merkle root over them and each one's path (CPU only)."""
    built = [
        (message, edoc.build(edoc.Package(header=message)))
        for message in map(arrived_message, arrivals)
    ]
    root, paths = audit_proof.merkle_tree([audit_proof.leaf_hash(data) for _, data in built])
    return built, root, paths


async def seal_pending(
    hub: Hub, *, limit: int = SEAL_BATCH, delivery_id: uuid.UUID | None = None
) -> int:
    """Seal one batch of status 01 still to be sealed (or the one of `delivery_id`): each package
    is built and stored (by this transaction when small, else in the blob store first), the axis signs the batch's Merkle root once, and the
    status documents with their deliveries to the senders commit with the arrivals marked sealed,
    in one transaction. A crash before the commit leaves the rows to seal again (the packages are
    the same bytes), so nothing is lost or doubled. Returns how many were sealed."""
    async with hub.db.connection() as conn, conn.transaction():
        arrivals = await ledger.arrivals_to_seal(conn, limit, delivery_id=delivery_id)
        if not arrivals:
            return 0
        built, root, paths = await asyncio.to_thread(_build_batch, arrivals)
        batch_seal = hub.seal.sign_json(
            {
                "type": audit_proof.STATUS_BATCH_TYPE,
                "root": root,
                "size": len(built),
                "at": datetime.now(UTC).isoformat(),
            }
        )
        # Stored before the commit that creates the status's delivery: nobody is shown a status
        # whose bytes are not kept.
        gate = asyncio.Semaphore(STORE_PARALLEL)

        async def keep(data: bytes) -> tuple[str, int, bytes | None]:
            # A small package is kept by this transaction's commit (AXIS_INLINE_MAX_BYTES).
            async with gate:
                return await store(hub, data)

        kept = await asyncio.gather(*(keep(data) for _, data in built))
        sealed = [
            ledger.SealedArrival(
                arrival=arrival,
                status_id=uuid7(),
                delivery_id=uuid7(),
                stored_sha256=sha,
                size=size,
                summary=_summary(message, arrival.recipient, arrival.letter_id),
                leaf=audit_proof.leaf_hash(data),
                leaf_index=index,
                path=path,
                inline=inline,
            )
            for index, (arrival, (message, data), (sha, size, inline), path) in enumerate(
                zip(arrivals, built, kept, paths, strict=True)
            )
        ]
        batch_id = await ledger.insert_arrivals(conn, sealed, root=root, batch_seal=batch_seal)
    log.info("event=statuses_sealed code=01 count=%d batch=%d", len(sealed), batch_id)
    return len(sealed)


def _summary(message: edoc.StatusMessage, author: str, letter_id: uuid.UUID) -> dict[str, Any]:
    return {
        "status_code": message.status_code.code,
        "label_vi": message.status_code.label_vi,
        "label_en": message.status_code.label_en,
        "from": author,
        "description": message.description,
        "timestamp": message.timestamp.isoformat(),
        "responds_to": str(letter_id),
        "staff": message.staff_info.staff if message.staff_info else None,
    }


# ---------------------------------------------------------------- posted by an agency


async def post(
    hub: Hub, agency: Agency, data: bytes, *, letter_id: str | None = None
) -> ledger.AcceptedStatus:
    """A signed Status package about a letter; `letter_id` None finds the letter from ResponseFor.
    The same package posted again gets the first answer (`repeated`)."""
    checked = await check_package(hub, data, agency)
    status = checked.package.header
    if not isinstance(status, edoc.StatusMessage):
        raise BadRequest(
            "this is a letter, not a Status package; send letters to /v1/documents",
            where="MessageHeader",
        )
    code = status.status_code.code
    received_sha = hashlib.sha256(data).hexdigest()
    async with hub.db.connection() as conn:
        letter = await _letter(conn, agency, status, letter_id)
        earlier = await ledger.earlier_status(conn, agency.organ_id, letter.id, received_sha)
    if earlier is not None:
        return ledger.AcceptedStatus.from_stored(earlier, repeated=True)

    is_sender = letter.sender == agency.organ_id
    if code == "13":
        if not is_sender:
            raise Forbidden(
                "only the letter's sender may ask for it back (13)",
                where="MessageHeader/StatusCode",
            )
    elif is_sender:
        raise Forbidden(
            f"status {code} is reported by a recipient; the sender may only post 13 (recall asked)",
            where="MessageHeader/StatusCode",
        )

    if not is_sender:
        # A status posted right after the acknowledgement follows its 01 to the sender: seal the
        # 01 now if the sealer has not yet (it waits for a sealer holding it).
        async with hub.db.connection() as conn:
            line = await ledger.delivery_of(conn, letter.id, agency.organ_id)
        if line is not None and line.state == "acknowledged":
            await seal_pending(hub, limit=1, delivery_id=line.delivery_id)

    kept = data
    if checked.signature == "legacy":
        kept = await asyncio.to_thread(hub.seal.sign_document, data)
    sha256, size, inline = await store(hub, kept)
    made = Made(
        status,
        sha256,
        size,
        checked.signature,
        checked.signer_fingerprint,
        received_sha,
        inline=inline,
    )
    async with hub.db.connection() as conn, conn.transaction():
        if code == "13":
            targets = await ledger.recipients_of(conn, letter.id)
        else:
            line = await ledger.delivery_of(conn, letter.id, agency.organ_id, lock=True)
            assert line is not None  # _letter checked that the caller is a recipient
            problem = transition_error(
                line.business_status if code not in RECALL_ANSWERS else None,
                code,
                recall_asked=await ledger.recall_asked(conn, letter.id),
                business_type=letter.business_type,
            )
            if problem:
                metrics.REFUSED.labels("status_transition").inc()
                raise Conflict(
                    problem,
                    where="MessageHeader/StatusCode",
                    details={
                        "current": line.business_status,
                        "posted": code,
                        "delivery_id": str(line.delivery_id),
                    },
                )
            if code not in RECALL_ANSWERS:
                await ledger.set_business_status(conn, line.delivery_id, code)
            targets = [letter.sender]
        accepted = await record(
            conn,
            hub,
            letter=letter,
            author=agency.organ_id,
            made=made,
            by="agency",
            targets=targets,
        )
    log.info("event=status document_id=%s from=%s code=%s", letter.id, agency.organ_id, code)
    return accepted


async def _letter(
    conn: asyncpg.Connection, agency: Agency, status: edoc.StatusMessage, letter_id: str | None
) -> ledger.StoredDocument:
    """The letter a status is about, visible to the caller (sender or recipient); 404 otherwise."""
    ref = status.response_for
    if letter_id is not None:
        found = await ledger.visible_document(
            conn, agency.organ_id, parse_id(letter_id, "document"), kind="letter"
        )
        if found is None:
            raise NotFound(
                f"no letter {letter_id} sent to or by {agency.organ_id}", where="document"
            )
        if ref.document_id != found.edxml_document_id:
            raise BadRequest(
                f"ResponseFor/DocumentId is {ref.document_id!r} but letter {letter_id} is {found.edxml_document_id!r}",
                where="MessageHeader/ResponseFor/DocumentId",
            )
        return found
    found = await ledger.letter_by_reference(conn, agency.organ_id, ref.document_id, ref.organ_id)
    if found is None:
        raise NotFound(
            f"no letter {ref.document_id} from {ref.organ_id} was sent to or by {agency.organ_id}",
            where="MessageHeader/ResponseFor/DocumentId",
        )
    return found


# ---------------------------------------------------------------- 13, asked by a clerk


async def ask_recall(
    hub: Hub, agency: Agency, letter_id: str, *, clerk: str, reason: str | None = None
) -> ledger.AcceptedStatus:
    """Status 13 (recall asked) for a letter `agency` sent, asked by a clerk on the pages. The
    agency's signing key is not on the axis, so the axis builds the Status and seals it, and the
    audit names the clerk who asked. Asking twice is a conflict: one recall request per letter."""
    doc_id = parse_id(letter_id, "document")
    async with hub.db.connection() as conn:
        letter = await ledger.visible_document(conn, agency.organ_id, doc_id, kind="letter")
    if letter is None:
        raise NotFound(f"no letter {letter_id} sent to or by {agency.organ_id}", where="document")
    if letter.sender != agency.organ_id:
        raise Forbidden("only the letter's sender may ask for it back (13)", where="document")
    message = edoc.StatusMessage(
        from_=edoc.Organization(organ_id=agency.organ_id, organ_name=agency.name),
        response_for=edoc.ResponseFor(
            organ_id=letter.sender,
            code=letter.code,
            document_id=letter.edxml_document_id,
            promulgation_date=letter.promulgation_date,
        ),
        status_code=edoc.StatusCode.RECALL_ASKED,
        timestamp=datetime.now(UTC),
        description=reason or "Đề nghị lấy lại văn bản (recall asked)",
        staff_info=edoc.StaffInfo(staff=clerk),
    )
    made = await seal(hub, message)
    async with hub.db.connection() as conn, conn.transaction():
        # The letter's row lock makes two clerks asking at once ask once.
        await ledger.lock_letter(conn, doc_id)
        if await ledger.recall_asked(conn, doc_id):
            raise Conflict("a recall of this letter was already asked", where="document")
        accepted = await record(
            conn,
            hub,
            letter=letter,
            author=agency.organ_id,
            made=made,
            by="clerk",
            targets=await ledger.recipients_of(conn, doc_id),
            audit={"clerk": clerk, "reason": reason},
        )
    log.info("event=status document_id=%s from=%s code=13 clerk=%s", doc_id, agency.organ_id, clerk)
    return accepted
