"""What the ledger hands back: typed records with real datetimes and ids, never HTTP-shaped dicts.

The adapters (/v1, the pages, /vdxp) and meetings/ read these and write their own formats."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from axis.core.ledger import rules


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


@dataclass(frozen=True)
class StoredDocument:
    """A letter or a status as the axis stored it."""

    id: uuid.UUID
    kind: str  # "letter" or "status"
    sender: str
    edxml_document_id: str
    business_type: int
    status_code: str | None
    content_sha256: str
    size: int
    code_number: str | None
    code_notation: str | None
    subject: str | None
    type_name: str | None
    promulgation_date: date | None
    due_date: date | None
    signature: str  # "xmldsig", "legacy" or "axis"
    signer_fingerprint: str | None
    responds_to: uuid.UUID | None
    summary: dict[str, Any]
    #: What the sender was first answered (the acceptance and its sealed receipt), if kept.
    acceptance: dict[str, Any] | None
    received_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StoredDocument:
        return cls(
            id=row["id"],
            kind=row["kind"],
            sender=row["sender"],
            edxml_document_id=row["edxml_document_id"],
            business_type=row["business_type"],
            status_code=row["status_code"],
            content_sha256=row["content_sha256"],
            size=row["size"],
            code_number=row["code_number"],
            code_notation=row["code_notation"],
            subject=row["subject"],
            type_name=row["type_name"],
            promulgation_date=row["promulgation_date"],
            due_date=row["due_date"],
            signature=row["signature"],
            signer_fingerprint=row["signer_fingerprint"],
            responds_to=row["responds_to"],
            summary=_json(row["summary"]),
            acceptance=_json(row["receipt"]),
            received_at=row["received_at"],
        )

    @property
    def code(self) -> str | None:
        """Số/Ký hiệu as the lists show it, when the letter has a number."""
        return f"{self.code_number}/{self.code_notation}" if self.code_number else None

    @property
    def unsigned_legacy(self) -> bool:
        return self.signature == "legacy"


@dataclass(frozen=True)
class StoredAttachment:
    document_id: uuid.UUID
    position: int
    content_id: str
    name: str
    content_type: str
    description: str | None
    size: int
    sha256: str
    #: The SHA-256 of the package that carries it (read from there when not stored apart).
    package_sha256: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StoredAttachment:
        return cls(**{f: row[f] for f in cls.__dataclass_fields__})


@dataclass(frozen=True)
class DeliveryItem:
    """One delivery (a document to one recipient) with what the lists show of its document."""

    delivery_id: uuid.UUID
    seq: int
    document_id: uuid.UUID
    kind: str
    sender: str
    recipient: str
    recipient_name: str
    state: str
    edxml_document_id: str
    business_type: int
    status_code: str | None
    responds_to: uuid.UUID | None
    subject: str | None
    code_number: str | None
    code_notation: str | None
    promulgation_date: date | None
    size: int
    signature: str
    received_at: datetime
    created_at: datetime
    available_at: datetime | None
    acknowledged_at: datetime | None
    attempts: int
    last_error: str | None
    push_failing_since: datetime | None
    business_status: str | None
    due_date: date | None
    #: The stored package's SHA-256: how its bytes are read (inline in the inbox, fetched).
    content_sha256: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> DeliveryItem:
        return cls(**{f: row[f] for f in cls.__dataclass_fields__})

    @property
    def code(self) -> str | None:
        return f"{self.code_number}/{self.code_notation}" if self.code_number else None

    @property
    def unsigned_legacy(self) -> bool:
        return self.signature == "legacy"

    def overdue(self, threshold: float, now: datetime | None = None) -> bool:
        return rules.is_overdue(
            kind=self.kind,
            state=self.state,
            created_at=self.created_at,
            due_date=self.due_date,
            business_status=self.business_status,
            threshold=threshold,
            now=now,
        )

    def error_for(self, viewer: str | None) -> str | None:
        return rules.shown_error(
            self.last_error,
            since=self.push_failing_since,
            attempts=self.attempts,
            recipient=self.recipient,
            viewer=viewer,
        )


@dataclass(frozen=True)
class NewDelivery:
    delivery_id: uuid.UUID
    recipient: str


@dataclass(frozen=True)
class AcceptedLetter:
    """The answer to a letter the axis took: the same for its first sending and any repeat."""

    document_id: uuid.UUID
    signature: str
    links: list[tuple[uuid.UUID, str]]
    deliveries: list[NewDelivery]
    receipt: dict[str, Any]  # the acceptance, sealed by the axis (JWS-like JSON)
    repeated: bool = False

    @property
    def unsigned_legacy(self) -> bool:
        return self.signature == "legacy"

    def stored_form(self) -> dict[str, Any]:
        """The acceptance as the ledger keeps it, and as /v1 answers it (the first answer is
        given again, byte for byte in content, to a repeat)."""
        return {
            "document_id": str(self.document_id),
            "status": "accepted",
            "signature": self.signature,
            "unsigned_legacy": self.unsigned_legacy,
            "links": [{"document_id": str(t), "kind": k} for t, k in self.links],
            "deliveries": [
                {"delivery_id": str(d.delivery_id), "recipient": d.recipient}
                for d in self.deliveries
            ],
            "receipt": self.receipt,
        }

    @classmethod
    def from_stored(cls, body: Mapping[str, Any], *, repeated: bool) -> AcceptedLetter:
        return cls(
            document_id=uuid.UUID(body["document_id"]),
            signature=body["signature"],
            links=[(uuid.UUID(x["document_id"]), x["kind"]) for x in body.get("links", [])],
            deliveries=[
                NewDelivery(uuid.UUID(x["delivery_id"]), x["recipient"]) for x in body["deliveries"]
            ],
            receipt=body["receipt"],
            repeated=repeated,
        )


@dataclass(frozen=True)
class AcceptedStatus:
    """The answer to a status the axis took (whoever made it)."""

    document_id: uuid.UUID
    status_code: str
    responds_to: uuid.UUID
    signature: str
    deliveries: list[NewDelivery]
    receipt: dict[str, Any]
    repeated: bool = False

    @property
    def unsigned_legacy(self) -> bool:
        return self.signature == "legacy"

    def stored_form(self) -> dict[str, Any]:
        return {
            "document_id": str(self.document_id),
            "status": "accepted",
            "kind": "status",
            "status_code": self.status_code,
            "responds_to": str(self.responds_to),
            "signature": self.signature,
            "unsigned_legacy": self.unsigned_legacy,
            "deliveries": [
                {"delivery_id": str(d.delivery_id), "recipient": d.recipient}
                for d in self.deliveries
            ],
            "receipt": self.receipt,
        }

    @classmethod
    def from_stored(cls, body: Mapping[str, Any], *, repeated: bool) -> AcceptedStatus:
        return cls(
            document_id=uuid.UUID(body["document_id"]),
            status_code=body["status_code"],
            responds_to=uuid.UUID(body["responds_to"]),
            signature=body["signature"],
            deliveries=[
                NewDelivery(uuid.UUID(x["delivery_id"]), x["recipient"]) for x in body["deliveries"]
            ],
            receipt=body["receipt"],
            repeated=repeated,
        )


@dataclass(frozen=True)
class Acknowledged:
    """An acknowledgement's outcome: the delivery as it now stands, and whether this call made it."""

    item: DeliveryItem
    already_acknowledged: bool


@dataclass(frozen=True)
class StatusEntry:
    document_id: uuid.UUID
    code: str
    label_vi: str | None
    label_en: str | None
    posted_by: str
    by: str  # "axis" (sealed by the axis) or "agency"
    at: datetime
    description: str | None


@dataclass(frozen=True)
class TraceLine:
    """One recipient's line in a letter's trace."""

    organ_id: str
    name: str
    delivery_id: uuid.UUID
    state: str
    created_at: datetime
    available_at: datetime | None
    acknowledged_at: datetime | None
    failed_at: datetime | None
    last_error: str | None  # as the viewer may see it
    current_status: str | None
    business_status: str | None
    due_date: date | None
    statuses: list[StatusEntry]

    def overdue(self, threshold: float, now: datetime | None = None) -> bool:
        return rules.is_overdue(
            kind="letter",
            state=self.state,
            created_at=self.created_at,
            due_date=self.due_date,
            business_status=self.business_status,
            threshold=threshold,
            now=now,
        )


@dataclass(frozen=True)
class Link:
    document_id: uuid.UUID
    kind: str  # recall, update, replace
    edxml_document_id: str
    received_at: datetime | None = None


@dataclass(frozen=True)
class RecallState:
    asked: bool
    agreed_by: list[str]
    refused_by: list[str]


@dataclass(frozen=True)
class Trace:
    """A letter's life as one agency may see it: a recipient sees its own line only."""

    document: StoredDocument
    refers_to: list[Link]
    referred_by: list[Link]
    recall: RecallState
    recipients: list[TraceLine]

    @property
    def document_id(self) -> uuid.UUID:
        return self.document.id


@dataclass(frozen=True)
class AckRequest:
    """One delivery to acknowledge: `recipient` None when the axis itself records it (a push)."""

    delivery_id: uuid.UUID
    recipient: str | None
    via: str  # "api", "vdxp" or "push"


@dataclass(frozen=True)
class Arrival:
    """An acknowledged letter whose status 01 is to be sealed: what its Status package names."""

    delivery_id: uuid.UUID
    acknowledged_at: datetime
    recipient: str
    recipient_name: str
    letter_id: uuid.UUID
    sender: str
    edxml_document_id: str
    code_number: str | None
    code_notation: str | None
    promulgation_date: date | None
    subject: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Arrival:
        return cls(**{f: row[f] for f in cls.__dataclass_fields__})

    @property
    def code(self) -> str | None:
        return f"{self.code_number}/{self.code_notation}" if self.code_number else None


@dataclass(frozen=True)
class SealedArrival:
    """A status 01 made and stored by the sealer, with its place in the batch's Merkle tree."""

    arrival: Arrival
    status_id: uuid.UUID
    delivery_id: uuid.UUID  # the status's own delivery, to the letter's sender
    stored_sha256: str
    size: int
    summary: dict[str, Any]
    leaf: str
    leaf_index: int
    path: list[dict[str, str]]
    #: The package's bytes when small enough to be kept by the commit that records it (stored_bytes).
    inline: bytes | None = None


@dataclass(frozen=True)
class StatusSeal:
    """Where a status sealed in a batch sits: its package's hash, its path and the batch's seal."""

    status_id: uuid.UUID
    responds_to: uuid.UUID
    package_sha256: str
    leaf: str
    leaf_index: int
    path: list[dict[str, str]]
    sealed: dict[str, Any]

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StatusSeal:
        return cls(
            status_id=row["status_id"],
            responds_to=row["responds_to"],
            package_sha256=row["content_sha256"],
            leaf=row["leaf"],
            leaf_index=row["leaf_index"],
            path=_json(row["path"]),
            sealed=_json(row["sealed"]),
        )
