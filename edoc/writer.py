"""The edXML writer: one canonical form (EDXML.md), whatever variant the package was read from,
with attachments streamed out so a large package never sits whole in memory."""

from __future__ import annotations

import base64
import io
import uuid
from collections.abc import Callable, Iterator
from typing import BinaryIO, Protocol

from lxml import etree

from edoc.errors import InvalidError
from edoc.model import (
    NS,
    Attachment,
    Bussiness,
    MessageHeader,
    Organization,
    Package,
    ResponseFor,
    StaffInfo,
    StatusMessage,
    TraceHeaderList,
)
from edoc.values import format_date, format_timestamp

DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
# Multiple of 3 so every chunk's base64 joins the next without padding in between.
_ENCODE_CHUNK = 3 * 256 * 1024


class Reader(Protocol):
    """Where an attachment's bytes come from when they are not in memory."""

    def read(self, size: int = -1, /) -> bytes: ...


AttachmentSource = Callable[[Attachment], Reader]


def build(package: Package) -> bytes:
    """The package in canonical edXML, UTF-8 with an XML declaration, no signature."""
    out = io.BytesIO()
    write(package, out)
    return out.getvalue()


def write(
    package: Package, out: BinaryIO, *, attachment_source: AttachmentSource | None = None
) -> None:
    """Write `build(package)`'s bytes to `out`, encoding attachments chunk by chunk.

    An attachment whose `data` is None is read from `attachment_source(att)` (a binary reader).
    """
    markers: dict[str, Attachment] = {}

    def marker(att: Attachment) -> str:
        token = f"@@edoc-attachment-{uuid.uuid4().hex}@@"
        markers[token] = att
        return token

    root = _tree(package, marker)
    text = _serialize(root)
    position = 0
    for token, att in markers.items():
        where = text.index(token.encode("ascii"), position)
        out.write(text[position:where])
        for chunk in _base64_chunks(att, attachment_source):
            out.write(chunk)
        position = where + len(token)
    out.write(text[position:])


def build_tree(package: Package) -> etree._Element:
    """The canonical tree, attachments included, for a signer to sign and serialize.

    The signature goes as the last child of `edXMLHeader` (see `signature_parent`).
    """

    def inline(att: Attachment) -> str:
        return b"".join(_base64_chunks(att, None)).decode("ascii")

    return _tree(package, inline)


def signature_parent(root: etree._Element) -> etree._Element:
    """The `edXMLHeader` of a built tree: where an enveloped signature goes, as last child."""
    found = root.find(f"{{{NS}}}edXMLEnvelope/{{{NS}}}edXMLHeader")
    if found is None:
        raise InvalidError("no edXMLEnvelope/edXMLHeader", code="missing")
    return found


def _serialize(root: etree._Element) -> bytes:
    return DECLARATION + etree.tostring(root, encoding="UTF-8", xml_declaration=False) + b"\n"


def _base64_chunks(att: Attachment, source: AttachmentSource | None) -> Iterator[bytes]:
    if att.data is not None:
        view = memoryview(att.data)
        for start in range(0, len(view), _ENCODE_CHUNK):
            yield base64.b64encode(view[start : start + _ENCODE_CHUNK])
        return
    if source is None:
        raise InvalidError(
            "the attachment has no bytes in memory and no attachment_source was given",
            where=f"AttachmentEncoded/Attachment[{att.content_id}]",
            code="no_attachment_bytes",
        )
    reader = source(att)
    carry = b""
    while True:
        chunk = reader.read(_ENCODE_CHUNK)
        if not chunk:
            break
        data = carry + chunk
        cut = len(data) - len(data) % 3
        carry = data[cut:]
        if cut:
            yield base64.b64encode(data[:cut])
    if carry:
        yield base64.b64encode(carry)


# --------------------------------------------------------------------------------------------


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, _q(name))
    if text is not None:
        try:
            el.text = text
        except ValueError:
            raise InvalidError(
                f"{text[:40]!r} holds characters XML cannot carry", where=name, code="bad_text"
            ) from None
    return el


def _opt(parent: etree._Element, name: str, value: object) -> None:
    """Optional elements are left out when empty rather than written as <X/>."""
    if value is None or value == "":
        return
    _sub(parent, name, ("true" if value else "false") if isinstance(value, bool) else str(value))


def _tree(package: Package, attachment_text: Callable[[Attachment], str]) -> etree._Element:
    root = etree.Element(_q("edXML"), nsmap={None: NS})  # type: ignore[dict-item]
    envelope = etree.SubElement(root, _q("edXMLEnvelope"), nsmap={"edXML": NS})
    header = _sub(envelope, "edXMLHeader")
    if isinstance(package.header, StatusMessage):
        _status(_sub(header, "MessageHeader"), package.header)
    else:
        _letter(_sub(header, "MessageHeader"), package.header)
    if package.trace is not None:
        _trace(header, package.trace)
    if isinstance(package.header, MessageHeader):
        body = _sub(envelope, "edXMLBody")
        manifest = _sub(body, "edXMLManifest")
        manifest.set("version", "1.0")
        for ref in package.manifest:
            node = _sub(manifest, "Reference")
            _sub(node, "ContentId", f"cid:{ref.content_id}")
            _opt(node, "ContentType", ref.content_type)
            _opt(node, "Description", ref.description)
            _opt(node, "AttachmentName", ref.attachment_name)
    if package.attachments:
        encoded = _sub(root, "AttachmentEncoded")
        for att in package.attachments:
            node = _sub(encoded, "Attachment")
            # The reference writer puts no cid: here (the manifest carries it).
            _sub(node, "ContentId", att.content_id)
            _opt(node, "AttachmentName", att.name)
            _opt(node, "Description", att.description)
            _opt(node, "ContentType", att.content_type)
            _sub(node, "ContentTransferEncoded", attachment_text(att))
    # Indented once here so build() and build_tree() are the same document, whitespace included.
    etree.indent(root, space="  ")
    return root


def _organization(parent: etree._Element, name: str, org: Organization) -> None:
    node = _sub(parent, name)
    _sub(node, "OrganId", org.organ_id)
    _opt(node, "OrganizationInCharge", org.organization_in_charge)
    _opt(node, "OrganName", org.organ_name)
    _opt(node, "OrganAdd", org.organ_add)
    _opt(node, "Email", org.email)
    _opt(node, "Telephone", org.telephone)
    _opt(node, "Fax", org.fax)
    _opt(node, "Website", org.website)


def _response_for(parent: etree._Element, rf: ResponseFor) -> None:
    node = _sub(parent, "ResponseFor")
    _sub(node, "OrganId", rf.organ_id)
    _opt(node, "Code", rf.code)
    _sub(node, "DocumentId", rf.document_id)
    if rf.promulgation_date is not None:
        _sub(node, "PromulgationDate", format_date(rf.promulgation_date))


def _staff(parent: etree._Element, staff: StaffInfo) -> None:
    node = _sub(parent, "StaffInfo")
    _opt(node, "Department", staff.department)
    _opt(node, "Staff", staff.staff)
    _opt(node, "Email", staff.email)
    _opt(node, "Mobile", staff.mobile)


def _letter(mh: etree._Element, h: MessageHeader) -> None:
    _organization(mh, "From", h.from_)
    for to in h.to:
        _organization(mh, "To", to)
    _sub(mh, "DocumentId", h.document_id)
    code = _sub(mh, "Code")
    _sub(code, "CodeNumber", h.code.number)
    _sub(code, "CodeNotation", h.code.notation)
    info = _sub(mh, "PromulgationInfo")
    _opt(info, "Place", h.promulgation_info.place)
    _sub(info, "PromulgationDate", format_date(h.promulgation_info.date))
    doc_type = _sub(mh, "DocumentType")
    _sub(doc_type, "Type", str(h.document_type.type))
    _opt(doc_type, "TypeDetail", h.document_type.type_detail)
    _opt(doc_type, "TypeName", h.document_type.type_name)
    _sub(mh, "Subject", h.subject)
    _opt(mh, "Content", h.content)
    signer = h.signer_info
    if signer is not None and any((signer.competence, signer.position, signer.full_name)):
        node = _sub(mh, "SignerInfo")
        _opt(node, "Competence", signer.competence)
        _opt(node, "Position", signer.position)
        _opt(node, "FullName", signer.full_name)
    if h.due_date is not None:
        _sub(mh, "DueDate", format_date(h.due_date))
    other = h.other_info
    if other is not None:
        node = _sub(mh, "OtherInfo")
        _opt(node, "Priority", other.priority)
        _opt(node, "SphereOfPromulgation", other.sphere_of_promulgation)
        _opt(node, "TyperNotation", other.typer_notation)
        _opt(node, "PromulgationAmount", other.promulgation_amount)
        _opt(node, "PageAmount", other.page_amount)
        _opt(node, "Direction", other.direction)
        if other.appendixes:
            appendixes = _sub(node, "Appendixes")
            for appendix in other.appendixes:
                _sub(appendixes, "Appendix", appendix)
        if len(node) == 0:
            mh.remove(node)
    for rf in h.response_for:
        _response_for(mh, rf)
    _sub(mh, "SteeringType", str(h.steering_type))
    if h.to_places:
        places = _sub(mh, "ToPlaces")
        for place in h.to_places:
            _sub(places, "Place", place)


def _status(mh: etree._Element, s: StatusMessage) -> None:
    _organization(mh, "From", s.from_)
    _response_for(mh, s.response_for)
    if s.staff_info is not None and s.staff_info != StaffInfo():
        _staff(mh, s.staff_info)
    _sub(mh, "StatusCode", s.status_code.code)
    _opt(mh, "Description", s.description)
    _sub(mh, "Timestamp", format_timestamp(s.timestamp))


def _trace(header: etree._Element, trace: TraceHeaderList) -> None:
    if not trace.trace_headers and trace.bussiness is None:
        return
    node = _sub(header, "TraceHeaderList")
    for hop in trace.trace_headers:
        hop_node = _sub(node, "TraceHeader")
        _sub(hop_node, "OrganId", hop.organ_id)
        _sub(hop_node, "Timestamp", format_timestamp(hop.timestamp))
    if trace.bussiness is not None:
        _bussiness(node, trace.bussiness)


def _bussiness(parent: etree._Element, b: Bussiness) -> None:
    node = _sub(parent, "Bussiness")
    _opt(node, "DocumentId", b.document_id)
    _sub(node, "BussinessDocType", str(int(b.bussiness_doc_type)))
    _opt(node, "BussinessDocReason", b.bussiness_doc_reason)
    _opt(node, "Paper", b.paper)
    for info in b.bussiness_document_info:
        if not (info.document_info or info.document_receiver or info.receivers):
            continue  # it would be written <BussinessDocumentInfo/>, which reads as absent
        info_node = _sub(node, "BussinessDocumentInfo")
        _opt(info_node, "DocumentInfo", info.document_info)
        _opt(info_node, "DocumentReceiver", info.document_receiver)
        if info.receivers:
            receivers = _sub(info_node, "ReceiverList")
            for receiver in info.receivers:
                receiver_node = _sub(receivers, "Receiver")
                _sub(receiver_node, "OrganId", receiver.organ_id)
                _opt(receiver_node, "ReceiverType", receiver.receiver_type)
    if b.replacement_info_list:
        replacements = _sub(node, "ReplacementInfoList")
        for replacement in b.replacement_info_list:
            replacement_node = _sub(replacements, "ReplacementInfo")
            _sub(replacement_node, "DocumentId", replacement.document_id)
            organs = _sub(replacement_node, "OrganIdList")
            for organ_id in replacement.organ_ids:
                _sub(organs, "OrganId", organ_id)
    for staff in b.staff_info:
        if staff != StaffInfo():
            _staff(node, staff)
