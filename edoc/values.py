"""Value types of the edXML world: organ identifiers (QĐ 20/2020/QĐ-TTg), document numbers and
notations (NĐ 30/2020/NĐ-CP), and the date and timestamp forms edXML writes."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from edoc.errors import InvalidError

#: Vietnam's local time, in which edXML timestamps are written (no daylight saving).
VN_TZ = dt.timezone(dt.timedelta(hours=7), "ICT")


class ValueProblem(ValueError):
    """A text that is not the value it should be; the reader adds the element path and line."""


# M4.M3.M2.M1: M1 names the level-1 organ (a group letter and two digits: G22 a ministry-level
# organ, H26 a province...); M2 and M3 are two characters, M4 three, "00"/"000" where the organ
# sits higher up. Letters are allowed below level 1 because issued codes use them (G01.01.02.H35).
_ORGAN_ID = re.compile(r"^([0-9A-Z]{3})\.([0-9A-Z]{2})\.([0-9A-Z]{2})\.([A-Z][0-9]{2})$")


@dataclass(frozen=True, order=True)
class OrganId:
    """An electronic organ identifier (mã định danh điện tử), e.g. `000.00.00.G22`.

    The reader keeps From/To organ ids as the text sent (test platforms use ids such as
    `vxp.saas.03`); the agency registry checks them with this type when an agency is registered.
    """

    level4: str
    level3: str
    level2: str
    level1: str

    @classmethod
    def parse(cls, text: str) -> OrganId:
        candidate = text.strip().upper()
        match = _ORGAN_ID.match(candidate)
        if match is None:
            raise InvalidError(
                f"{text!r} is not an organ identifier: expected four groups "
                "XXX.XX.XX.Ynn such as 000.00.00.G22 (QĐ 20/2020/QĐ-TTg)",
                code="bad_organ_id",
            )
        return cls(*match.groups())

    @classmethod
    def is_valid(cls, text: str) -> bool:
        return _ORGAN_ID.match(text.strip().upper()) is not None

    @property
    def level(self) -> int:
        """1 for a ministry or province itself, up to 4 for a unit four levels down."""
        if self.level4 != "000":
            return 4
        if self.level3 != "00":
            return 3
        if self.level2 != "00":
            return 2
        return 1

    @property
    def parent(self) -> OrganId | None:
        """The organ one level up, or None for a level-1 organ."""
        if self.level4 != "000":
            return OrganId("000", self.level3, self.level2, self.level1)
        if self.level3 != "00":
            return OrganId("000", "00", self.level2, self.level1)
        if self.level2 != "00":
            return OrganId("000", "00", "00", self.level1)
        return None

    def __str__(self) -> str:
        return f"{self.level4}.{self.level3}.{self.level2}.{self.level1}"


# The shape every organ code read from a package must have: three to five dot-separated groups of
# letters and digits. It takes the QĐ 20/2020 form (000.00.00.G22, 000.00.15.H51), the older
# three-group codes still in circulation (28.22.H17, 01.02.G22), issued variants with a longer last
# group (001.00.20.TT2) and test-platform ids (vxp.saas.03); it refuses what is no code at all,
# such as an abbreviation (BTTTT), a name, or text with spaces.
_ORGAN_CODE = re.compile(r"^[0-9A-Za-z]{1,8}(?:\.[0-9A-Za-z]{1,8}){2,4}$")
#: Longest OrganId the reader takes (the shape above allows at most 44 characters).
MAX_ORGAN_ID = 44


def check_organ_code(text: str) -> str:
    """`text` stripped when it has the shape of an organ code, else ValueProblem."""
    value = text.strip()
    if not _ORGAN_CODE.match(value):
        shown = value if len(value) <= 60 else value[:60] + "…"
        raise ValueProblem(
            f"{shown!r} is not an organ code: expected dot-separated groups of letters and "
            "digits such as 000.00.00.G22 (or the older 28.22.H17)"
        )
    return value


_NUMBER = re.compile(r"^[0-9]{1,7}$")
# A notation segment: letters (Vietnamese included), digits, and '&' for joint documents.
_SEGMENT = re.compile(r"^[^\W_]+(?:&[^\W_]+)*$")


@dataclass(frozen=True)
class DocumentNumber:
    """A document's number and notation (số, ký hiệu), e.g. `15/2020/NĐ-CP` or `7816/VPCP-TTĐT`.

    `number` is the part before the first '/', `notation` everything after it (with the year for
    legal documents: `2020/NĐ-CP`), as edXML's `Code/CodeNumber` and `Code/CodeNotation` carry them.
    """

    number: str
    notation: str

    @classmethod
    def parse(cls, text: str) -> DocumentNumber:
        candidate = text.strip()
        number, sep, notation = candidate.partition("/")
        if not sep:
            raise InvalidError(
                f"{text!r} is not a document number: expected number/notation, "
                "e.g. 123/QĐ-TTg or 15/2020/NĐ-CP",
                code="bad_document_number",
            )
        return cls.of(number, notation)

    @classmethod
    def of(cls, number: str, notation: str) -> DocumentNumber:
        """Check a number and a notation given apart (as `Code` carries them)."""
        number, notation = number.strip(), notation.strip()
        if not _NUMBER.match(number):
            raise InvalidError(
                f"{number!r} is not a document number: the number is 1 to 7 digits",
                code="bad_document_number",
            )
        if int(number) == 0:
            raise InvalidError("a document number starts at 01", code="bad_document_number")
        parts = re.split(r"[-/]", notation)
        if not notation or not all(_SEGMENT.match(part) for part in parts):
            raise InvalidError(
                f"{notation!r} is not a notation: expected abbreviations joined by '-' "
                "(and the year before a '/' for legal documents), e.g. VPCP-TTĐT, 2020/NĐ-CP",
                code="bad_notation",
            )
        return cls(number, notation)

    @property
    def year(self) -> int | None:
        """The year a legal document's notation carries (`2020` in 15/2020/NĐ-CP)."""
        head, sep, _ = self.notation.partition("/")
        if sep and len(head) == 4 and head.isdigit():
            return int(head)
        return None

    @property
    def abbreviations(self) -> list[str]:
        """The notation's abbreviations, year left out: ['NĐ', 'CP'], ['VPCP', 'TTĐT']."""
        tail = self.notation.split("/", 1)[1] if self.year is not None else self.notation
        return [part for part in re.split(r"[-/]", tail) if part]

    def __str__(self) -> str:
        return f"{self.number}/{self.notation}"


# Dates: yyyy/MM/dd is what edXML writes. Read too: yyyy-MM-dd, dd/MM/yyyy (some vendors, Bkav
# among them, write it inside the QCVN 102 namespace), and a time part after the date (some writers
# serialise a DateTime), which is dropped. The four-digit year says which way round a date is.
_DATE = re.compile(
    r"^(\d{1,4})([/-])(\d{1,2})\2(\d{1,4})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
)
_DMY = re.compile(r"^\d{1,2}[/-]\d{1,2}[/-]\d{4}")
_TIMESTAMP = re.compile(
    r"^(\d{4})[/-](\d{1,2})[/-](\d{1,2})[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6})\d*)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$"
)
_CANONICAL_DATE = re.compile(r"^\d{4}/\d{2}/\d{2}$")
_CANONICAL_TIMESTAMP = re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}$")


def parse_date(text: str) -> dt.date:
    return read_date(text)[0]


def read_date(text: str) -> tuple[dt.date, str | None]:
    """The date, and the variant it was written in: None for the canonical yyyy/MM/dd, else
    `date_dd_mm_yyyy` (also with dashes), `date_dashes` (yyyy-MM-dd), `date_with_time` or
    `date_short` (a month or day without its leading zero)."""
    value = text.strip()
    match = _DATE.match(value)
    if match is None:
        raise ValueProblem(f"{text!r} is not a date in yyyy/MM/dd form")
    first, sep, month, last = match.groups()
    variant: str | None
    if len(first) == 4 and len(last) <= 2:
        year, day, variant = first, last, None if sep == "/" else "date_dashes"
    elif len(last) == 4 and len(first) <= 2:
        year, day, variant = last, first, "date_dd_mm_yyyy"
    else:
        raise ValueProblem(
            f"{text!r} is ambiguous: no single four-digit year tells yyyy/MM/dd from dd/MM/yyyy"
        )
    if variant is None and not _CANONICAL_DATE.match(value):
        variant = "date_with_time" if len(value) > 10 else "date_short"
    try:
        return dt.date(int(year), int(month), int(day)), variant
    except ValueError:
        raise ValueProblem(f"{text!r} is not a date") from None


def format_date(value: dt.date) -> str:
    return f"{value.year:04d}/{value.month:02d}/{value.day:02d}"


def timestamp_variant(text: str) -> str | None:
    """None when a timestamp is written exactly `yyyy/MM/dd HH:mm:ss`, else a word on its form."""
    return None if _CANONICAL_TIMESTAMP.match(text.strip()) else "not yyyy/MM/dd HH:mm:ss"


def parse_timestamp(text: str) -> dt.datetime:
    """Read `yyyy/MM/dd HH:mm:ss` (Vietnam time unless an offset is given) as an aware datetime."""
    value = text.strip()
    match = _TIMESTAMP.match(value)
    if match is None:
        hint = " (dd/MM/yyyy is not accepted)" if _DMY.match(value) else ""
        raise ValueProblem(f"{text!r} is not a timestamp in yyyy/MM/dd HH:mm:ss form{hint}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    tz: dt.tzinfo = VN_TZ
    if zone == "Z":
        tz = dt.UTC
    elif zone:
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        tz = dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        return dt.datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
            tzinfo=tz,
        )
    except ValueError:
        raise ValueProblem(f"{text!r} is not a timestamp") from None


def format_timestamp(value: dt.datetime) -> str:
    """Vietnam local time to the second; a naive datetime is taken as Vietnam time already."""
    local = value.astimezone(VN_TZ) if value.tzinfo is not None else value
    return (
        f"{local.year:04d}/{local.month:02d}/{local.day:02d} "
        f"{local.hour:02d}:{local.minute:02d}:{local.second:02d}"
    )


def strip_cid(content_id: str) -> str:
    """`cid:abc` and `abc` name the same attachment; the model keeps `abc`."""
    value = content_id.strip()
    if value[:4].lower() == "cid:":
        value = value[4:].strip()
    return value.strip("<>")
