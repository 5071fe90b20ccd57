"""The edXML package as Python values: a letter (MessageHeader) or a receipt (Status), its trace,
manifest and attachments. Each field's comment names the edXML element it maps to."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import mimetypes
import struct
from dataclasses import dataclass, field

from edoc.values import DocumentNumber

#: The one namespace of QCVN 102:2016 edXML.
NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
#: W3C XML-DSig: a `Signature` here is a real signature (its checking belongs to `signing`).
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"


class SignatureKind(enum.Enum):
    """What signature element a package carries (not whether it verifies)."""

    XMLDSIG = "xmldsig"  # a Signature in the W3C namespace with SignedInfo and SignatureValue
    PLACEHOLDER = "placeholder"  # edXML-namespace Signature/DigitalSignature, or a hollow one
    NONE = "none"


class BussinessDocType(enum.IntEnum):
    """`TraceHeaderList/Bussiness/BussinessDocType`."""

    NEW = 0
    RECALL = 1
    UPDATE = 2
    REPLACE = 3


class StatusCode(enum.Enum):
    """`StatusCode` of a Status package, with its meaning in Vietnamese and English."""

    ARRIVED = ("01", "đã đến", "arrived")
    REFUSED = ("02", "từ chối tiếp nhận", "refused")
    ACCEPTED = ("03", "đã tiếp nhận", "accepted")
    ASSIGNED = ("04", "phân công", "assigned")
    IN_PROGRESS = ("05", "đang xử lý", "in progress")
    DONE = ("06", "hoàn thành", "done")
    RECALL_ASKED = ("13", "lấy lại", "recall asked")
    RECALL_AGREED = ("15", "đồng ý lấy lại/cập nhật", "recall/update agreed")
    RECALL_REFUSED = ("16", "từ chối lấy lại/cập nhật", "recall/update refused")

    def __init__(self, code: str, label_vi: str, label_en: str) -> None:
        self.code = code
        self.label_vi = label_vi
        self.label_en = label_en

    @classmethod
    def from_code(cls, text: str) -> StatusCode:
        """`"01"`, and `"1"` as some senders write it; ValueError for any other code."""
        value = text.strip()
        if value.isdigit() and len(value) == 1:
            value = "0" + value
        for member in cls:
            if member.code == value:
                return member
        raise ValueError(f"{text!r} is not a status code (01–06, 13, 15, 16)")

    def can_move_to(self, following: StatusCode) -> bool:
        """On the 01–06 track a recipient may skip steps but never go back, nor leave 02 or 06.
        The recall codes (13, 15, 16) are a separate exchange and are not judged here."""
        track = ("01", "02", "03", "04", "05", "06")
        if self.code not in track or following.code not in track:
            return True
        if self.code in ("02", "06"):
            return False
        if following.code == "02":
            return self.code in ("01", "03")
        return track.index(following.code) > track.index(self.code)

    def __str__(self) -> str:
        return self.code


@dataclass(frozen=True, kw_only=True)
class Organization:
    """`From` or `To`."""

    organ_id: str  # OrganId: kept as sent; see OrganId for the strict shape
    organization_in_charge: str | None = None  # OrganizationInCharge
    organ_name: str | None = None  # OrganName
    organ_add: str | None = None  # OrganAdd
    email: str | None = None  # Email
    telephone: str | None = None  # Telephone
    fax: str | None = None  # Fax
    website: str | None = None  # Website


@dataclass(frozen=True)
class Code:
    """`Code`: the letter's number and notation."""

    number: str  # CodeNumber
    notation: str  # CodeNotation

    def parsed(self) -> DocumentNumber:
        """The strict reading (NĐ 30/2020); raises InvalidError when the sender's form is odd."""
        return DocumentNumber.of(self.number, self.notation)

    def __str__(self) -> str:
        return f"{self.number}/{self.notation}"


@dataclass(frozen=True)
class PromulgationInfo:
    """`PromulgationInfo`."""

    place: str | None  # Place
    date: dt.date  # PromulgationDate (yyyy/MM/dd)


@dataclass(frozen=True)
class DocumentType:
    """`DocumentType`: Type is kept as given (the Java SDK writes 1 for a công văn, .NET 18)."""

    type: int  # Type
    type_detail: int | None = None  # TypeDetail
    type_name: str | None = None  # TypeName


@dataclass(frozen=True)
class SignerInfo:
    """`SignerInfo`."""

    competence: str | None = None  # Competence
    position: str | None = None  # Position
    full_name: str | None = None  # FullName


@dataclass(frozen=True, kw_only=True)
class OtherInfo:
    """`OtherInfo`."""

    priority: int | None = None  # Priority: 0 normal, higher is more urgent
    sphere_of_promulgation: str | None = None  # SphereOfPromulgation
    typer_notation: str | None = None  # TyperNotation
    promulgation_amount: int | None = None  # PromulgationAmount
    page_amount: int | None = None  # PageAmount
    direction: bool | None = None  # Direction (true/false)
    appendixes: list[str] = field(default_factory=list)  # Appendixes/Appendix*


@dataclass(frozen=True)
class ResponseFor:
    """`ResponseFor`: the letter this one answers (or, in a Status, the letter reported on)."""

    organ_id: str  # OrganId of the original's sender
    code: str | None  # Code, written number/notation
    document_id: str  # DocumentId of the original
    promulgation_date: dt.date | None = None  # PromulgationDate


@dataclass(frozen=True, kw_only=True)
class MessageHeader:
    """`MessageHeader` of a letter."""

    from_: Organization  # From (exactly one)
    to: list[Organization]  # To (one per recipient, at least one)
    document_id: str  # DocumentId: OrganId,yyyy/MM/dd,Number/Notation or a UUID
    code: Code  # Code
    promulgation_info: PromulgationInfo  # PromulgationInfo
    document_type: DocumentType  # DocumentType
    subject: str  # Subject (trích yếu)
    content: str | None = None  # Content
    signer_info: SignerInfo | None = None  # SignerInfo
    due_date: dt.date | None = None  # DueDate
    other_info: OtherInfo | None = None  # OtherInfo
    response_for: list[ResponseFor] = field(default_factory=list)  # ResponseFor*
    steering_type: int = 0  # SteeringType: 0 none, 1 steering, 2 steering with report asked
    to_places: list[str] = field(default_factory=list)  # ToPlaces/Place*


@dataclass(frozen=True, kw_only=True)
class StaffInfo:
    """`StaffInfo`: the clerk who handled the letter."""

    department: str | None = None  # Department
    staff: str | None = None  # Staff
    email: str | None = None  # Email
    mobile: str | None = None  # Mobile


@dataclass(frozen=True, kw_only=True)
class StatusMessage:
    """`MessageHeader` of a Status package (a receipt)."""

    from_: Organization  # From: who reports
    response_for: ResponseFor  # ResponseFor (exactly one)
    status_code: StatusCode  # StatusCode
    timestamp: dt.datetime  # Timestamp (yyyy/MM/dd HH:mm:ss, Vietnam time), aware
    staff_info: StaffInfo | None = None  # StaffInfo
    description: str | None = None  # Description


@dataclass(frozen=True)
class TraceHeader:
    """`TraceHeader`: one hop."""

    organ_id: str  # OrganId
    timestamp: dt.datetime  # Timestamp, aware


@dataclass(frozen=True)
class Receiver:
    """`BussinessDocumentInfo/ReceiverList/Receiver`."""

    organ_id: str  # OrganId
    receiver_type: int | None = None  # ReceiverType


@dataclass(frozen=True, kw_only=True)
class BussinessDocumentInfo:
    """`BussinessDocumentInfo` (update)."""

    document_info: str | None = None  # DocumentInfo
    document_receiver: str | None = None  # DocumentReceiver
    receivers: list[Receiver] = field(default_factory=list)  # ReceiverList/Receiver*


@dataclass(frozen=True)
class ReplacementInfo:
    """`ReplacementInfoList/ReplacementInfo` (replace)."""

    document_id: str  # DocumentId of the replaced letter
    organ_ids: list[str] = field(default_factory=list)  # OrganIdList/OrganId*


@dataclass(frozen=True, kw_only=True)
class Bussiness:
    """`TraceHeaderList/Bussiness` (the standard's spelling, double s)."""

    bussiness_doc_type: BussinessDocType = BussinessDocType.NEW  # BussinessDocType
    document_id: str | None = None  # DocumentId
    bussiness_doc_reason: str | None = None  # BussinessDocReason
    paper: int | None = None  # Paper: 0, or 1 when a paper copy also goes
    bussiness_document_info: list[BussinessDocumentInfo] = field(default_factory=list)
    replacement_info_list: list[ReplacementInfo] = field(default_factory=list)
    staff_info: list[StaffInfo] = field(default_factory=list)  # StaffInfo*


@dataclass(frozen=True)
class TraceHeaderList:
    """`TraceHeaderList`."""

    bussiness: Bussiness | None = None  # Bussiness
    trace_headers: list[TraceHeader] = field(default_factory=list)  # TraceHeader*


@dataclass(frozen=True, kw_only=True)
class ManifestReference:
    """`edXMLBody/edXMLManifest/Reference`."""

    content_id: str  # ContentId, without `cid:`
    content_type: str | None = None  # ContentType
    description: str | None = None  # Description
    attachment_name: str | None = None  # AttachmentName


@dataclass(frozen=True, kw_only=True)
class Attachment:
    """`AttachmentEncoded/Attachment`. `data` is None when the bytes went to a sink."""

    content_id: str  # ContentId, without `cid:`
    name: str | None  # AttachmentName
    content_type: str | None  # ContentType
    description: str | None = None  # Description
    size: int  # decoded ContentTransferEncoded, in bytes
    sha256: str  # of the decoded bytes, hex
    data: bytes | None = field(default=None, repr=False)  # ContentTransferEncoded, decoded
    inner_name: str | None = None  # the file inside, when the bytes are a one-entry ZIP

    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        *,
        name: str,
        content_id: str,
        content_type: str | None = None,
        description: str | None = None,
    ) -> Attachment:
        """An attachment held in memory, its size, digest and inner ZIP name worked out."""
        if content_type is None:
            content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return cls(
            content_id=content_id,
            name=name,
            content_type=content_type,
            description=description,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            data=data,
            inner_name=zip_single_name(data[:ZIP_HEAD], data[-ZIP_TAIL:]),
        )


@dataclass(frozen=True)
class Variant:
    """A form the reader accepted that is not the one the writer writes (a `dd/MM/yyyy` date, the
    single-s `Business` spelling, an empty `<X/>` read as absent...)."""

    code: str  # machine word, e.g. "date_dd_mm_yyyy"
    where: str  # element path, e.g. MessageHeader/PromulgationInfo/PromulgationDate
    message: str  # what was read and how, for a person

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "where": self.where, "message": self.message}


@dataclass(frozen=True, kw_only=True)
class Package:
    """One edXML package: a letter or a Status receipt."""

    header: MessageHeader | StatusMessage  # edXMLHeader/MessageHeader
    trace: TraceHeaderList | None = None  # edXMLHeader/TraceHeaderList
    manifest: list[ManifestReference] = field(default_factory=list)  # edXMLBody/edXMLManifest
    attachments: list[Attachment] = field(default_factory=list)  # AttachmentEncoded
    signature: SignatureKind = SignatureKind.NONE  # edXMLHeader/Signature, what kind
    # The non-canonical forms the reader met. Not part of the letter's meaning: two packages that
    # say the same thing in different forms are equal.
    variants: tuple[Variant, ...] = field(default=(), compare=False)

    @property
    def is_status(self) -> bool:
        return isinstance(self.header, StatusMessage)

    @property
    def is_letter(self) -> bool:
        return isinstance(self.header, MessageHeader)

    @property
    def sender(self) -> Organization:
        return self.header.from_

    @property
    def bussiness_doc_type(self) -> BussinessDocType | None:
        if self.trace is None or self.trace.bussiness is None:
            return None
        return self.trace.bussiness.bussiness_doc_type


# How much of an attachment's start and end is kept to name a ZIP's single entry without holding
# the whole file: the local header (30 bytes + name) and the end-of-central-directory record
# (22 bytes + a comment of at most 64 KiB).
ZIP_HEAD = 64 * 1024
ZIP_TAIL = 22 + 65535


def zip_single_name(head: bytes, tail: bytes) -> str | None:
    """The entry's name when the bytes are a ZIP with exactly one entry, else None."""
    if not head.startswith(b"PK\x03\x04") or len(head) < 30:
        return None
    eocd = tail.rfind(b"PK\x05\x06")
    if eocd < 0 or len(tail) - eocd < 22:
        return None
    (entries,) = struct.unpack_from("<H", tail, eocd + 10)
    if entries != 1:
        return None
    flags, name_len = struct.unpack_from("<H", head, 6)[0], struct.unpack_from("<H", head, 26)[0]
    raw = head[30 : 30 + name_len]
    if len(raw) != name_len or not raw:
        return None
    # Bit 11 says UTF-8; many Windows tools write UTF-8 without saying so, so try it first.
    if flags & 0x800:
        return raw.decode("utf-8", "replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp437")
