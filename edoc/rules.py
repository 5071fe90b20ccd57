"""What a package must say to hold together, beyond being well-formed edXML: the limit of each text
field, what an attachment's name and content type may hold, and the manifest agreeing with the
attachments. Pure functions; the reader and the axis both use them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from edoc.model import Package
from edoc.values import MAX_ORGAN_ID, ValueProblem

# Characters, per element (local name), of the text fields the reader takes into the model. Each
# is generous for a real letter (a subject of 2,000 characters is a page of text) while keeping a
# single package from filling an inbox page with megabytes. Numbers, dates and timestamps are held
# by their formats, attachment bytes by `Limits.max_bytes`.
FIELD_LIMITS: dict[str, int] = {
    "OrganId": MAX_ORGAN_ID,
    "OrganName": 500,
    "OrganizationInCharge": 500,
    "OrganAdd": 500,
    "Email": 254,
    "Telephone": 50,
    "Fax": 50,
    "Mobile": 50,
    "Website": 500,
    "DocumentId": 255,
    "CodeNumber": 50,
    "CodeNotation": 100,
    "Code": 150,  # Code written as one text, number/notation
    "Place": 500,
    "TypeName": 200,
    "Subject": 2_000,
    "Content": 65_536,
    "Competence": 200,
    "Position": 200,
    "FullName": 200,
    "SphereOfPromulgation": 500,
    "TyperNotation": 100,
    "Appendix": 1_000,
    "BussinessDocReason": 2_000,
    "DocumentInfo": 2_000,
    "DocumentReceiver": 2_000,
    "Department": 500,
    "Staff": 200,
    "Description": 2_000,
    "ContentId": 255,
    "ContentType": 255,
    # An attachment's name is limited in UTF-8 bytes (MAX_NAME_BYTES), the most a file system takes;
    # this character limit only stops a monster before it is measured.
    "AttachmentName": 1_000,
}
#: Any other text element the reader takes (numbers, dates, codes...).
DEFAULT_FIELD_LIMIT = 1_000
#: An attachment's name, in UTF-8 bytes: what common file systems take for one file name.
MAX_NAME_BYTES = 255


def field_limit(local_name: str) -> int:
    return FIELD_LIMITS.get(local_name, DEFAULT_FIELD_LIMIT)


# C0 and C1 controls, DEL, and the Unicode controls that reorder or hide text (bidi embeddings,
# overrides and isolates, the directional marks, line and paragraph separators): a name holding
# one can pass for another file ("invoice", U+202E, "fdp.exe" shows as "invoiceexe.pdf") or break
# a header it is copied into.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_MEDIA_WORD = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_CONTENT_TYPE = re.compile(
    rf"^{_MEDIA_WORD}/{_MEDIA_WORD}(?:\s*;\s*[A-Za-z0-9!#$&^_.+-]+=(?:[A-Za-z0-9!#$&^_.+-]+|\"[^\"\\]*\"))*$"
)


def _unsafe(text: str) -> str | None:
    found = _UNSAFE.search(text)
    return f"U+{ord(found.group()):04X}" if found else None


def check_attachment_name(name: str) -> None:
    """ValueProblem when a name holds a control or bidi character or is over 255 UTF-8 bytes."""
    bad = _unsafe(name)
    if bad is not None:
        raise ValueProblem(f"the name holds the control character {bad}")
    size = len(name.encode("utf-8"))
    if size > MAX_NAME_BYTES:
        raise ValueProblem(f"the name is {size} bytes in UTF-8; at most {MAX_NAME_BYTES}")


def check_content_type(content_type: str) -> None:
    """ValueProblem unless the text is a media type, type/subtype with optional parameters."""
    bad = _unsafe(content_type)
    if bad is not None:
        raise ValueProblem(f"the content type holds the control character {bad}")
    if not _CONTENT_TYPE.match(content_type):
        shown = content_type if len(content_type) <= 60 else content_type[:60] + "…"
        raise ValueProblem(f"{shown!r} is not a content type (type/subtype, e.g. application/pdf)")


@dataclass(frozen=True)
class Problem:
    """Something a package says that does not hold together; `where` names the element."""

    code: str
    message: str
    where: str
    content_id: str | None = None

    def to_json(self) -> dict[str, str]:
        body = {"code": self.code, "message": self.message, "where": self.where}
        if self.content_id is not None:
            body["content_id"] = self.content_id
        return body


def problems(package: Package) -> list[Problem]:
    """The manifest and the attachments must agree one to one on ContentId (`cid:` already
    stripped by the reader): every Reference names an attachment that is there, every attachment
    is named by a Reference, and no ContentId is used twice on either side."""
    found: list[Problem] = []
    attached: dict[str, int] = {}
    for i, att in enumerate(package.attachments, start=1):
        if att.content_id in attached:
            found.append(
                Problem(
                    "duplicate_content_id",
                    f"attachments {attached[att.content_id]} and {i} both have ContentId "
                    f"{att.content_id!r}",
                    f"AttachmentEncoded/Attachment[{i}]/ContentId",
                    att.content_id,
                )
            )
        else:
            attached[att.content_id] = i
    referenced: dict[str, int] = {}
    for i, ref in enumerate(package.manifest, start=1):
        where = f"edXMLManifest/Reference[{i}]/ContentId"
        if ref.content_id in referenced:
            found.append(
                Problem(
                    "duplicate_reference",
                    f"the manifest names ContentId {ref.content_id!r} twice "
                    f"(references {referenced[ref.content_id]} and {i})",
                    where,
                    ref.content_id,
                )
            )
            continue
        referenced[ref.content_id] = i
        if ref.content_id not in attached:
            found.append(
                Problem(
                    "reference_without_attachment",
                    f"the manifest names ContentId {ref.content_id!r} but no attachment has it",
                    where,
                    ref.content_id,
                )
            )
    for content_id, i in attached.items():
        if content_id not in referenced:
            found.append(
                Problem(
                    "attachment_without_reference",
                    f"attachment {i} has ContentId {content_id!r} but no manifest Reference "
                    "names it",
                    f"AttachmentEncoded/Attachment[{i}]/ContentId",
                    content_id,
                )
            )
    return found
