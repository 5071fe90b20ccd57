"""Realistic Vietnamese official letters and receipts for demos, tests and benchmarks.

The organs, names and addresses are illustrative (the organ ids follow QĐ 20/2020's shape, the
numbers and notations NĐ 30/2020's); a seed makes every field reproducible.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from edoc.model import (
    Attachment,
    Bussiness,
    BussinessDocType,
    Code,
    DocumentType,
    ManifestReference,
    MessageHeader,
    Organization,
    OtherInfo,
    Package,
    PromulgationInfo,
    ReplacementInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusCode,
    StatusMessage,
    TraceHeader,
    TraceHeaderList,
)
from edoc.values import VN_TZ, format_date


@dataclass(frozen=True)
class _Organ:
    name: str
    abbreviation: str
    place: str
    address: str
    email: str
    telephone: str
    website: str
    head: str  # the signer's title at the organ's head
    deputy: str


ORGANS: dict[str, _Organ] = {
    "000.00.00.G22": _Organ(
        "Văn phòng Chính phủ", "VPCP", "Hà Nội", "Số 1 Hoàng Hoa Thám, Ba Đình, Hà Nội",
        "vanthu@chinhphu.vn", "080.43162", "https://vpcp.chinhphu.vn",
        "Bộ trưởng, Chủ nhiệm", "Phó Chủ nhiệm",
    ),
    "000.00.00.G12": _Organ(
        "Bộ Tài chính", "BTC", "Hà Nội", "Số 28 Trần Hưng Đạo, Hoàn Kiếm, Hà Nội",
        "vanthu@mof.gov.vn", "024.22202828", "https://mof.gov.vn", "Bộ trưởng", "Thứ trưởng",
    ),
    "000.00.00.G09": _Organ(
        "Bộ Nội vụ", "BNV", "Hà Nội", "Số 8 Tôn Thất Thuyết, Nam Từ Liêm, Hà Nội",
        "vanthu@moha.gov.vn", "080.48022", "https://moha.gov.vn", "Bộ trưởng", "Thứ trưởng",
    ),
    "000.00.00.G17": _Organ(
        "Bộ Xây dựng", "BXD", "Hà Nội", "Số 37 Lê Đại Hành, Hai Bà Trưng, Hà Nội",
        "vanthu@moc.gov.vn", "024.39760271", "https://moc.gov.vn", "Bộ trưởng", "Thứ trưởng",
    ),
    "000.00.00.H26": _Organ(
        "Ủy ban nhân dân thành phố Hà Nội", "UBND", "Hà Nội",
        "Số 12 Lê Lai, Hoàn Kiếm, Hà Nội", "vanthu@hanoi.gov.vn", "024.38253536",
        "https://hanoi.gov.vn", "Chủ tịch", "Phó Chủ tịch",
    ),
    "000.00.00.H29": _Organ(
        "Ủy ban nhân dân Thành phố Hồ Chí Minh", "UBND", "Thành phố Hồ Chí Minh",
        "Số 86 Lê Thánh Tôn, phường Sài Gòn, Thành phố Hồ Chí Minh", "vanthu@tphcm.gov.vn",
        "028.38296052", "https://hochiminhcity.gov.vn", "Chủ tịch", "Phó Chủ tịch",
    ),
    "000.00.00.H38": _Organ(
        "Ủy ban nhân dân tỉnh Lào Cai", "UBND", "Lào Cai",
        "Đại lộ Trần Hưng Đạo, phường Nam Cường, thành phố Lào Cai", "vanthu@laocai.gov.vn",
        "0214.3840006", "https://laocai.gov.vn", "Chủ tịch", "Phó Chủ tịch",
    ),
    "000.00.00.H55": _Organ(
        "Ủy ban nhân dân tỉnh Thái Nguyên", "UBND", "Thái Nguyên",
        "Số 18 Nha Trang, phường Trưng Vương, thành phố Thái Nguyên",
        "vanthu@thainguyen.gov.vn", "0208.3855768", "https://thainguyen.gov.vn",
        "Chủ tịch", "Phó Chủ tịch",
    ),
    "000.00.00.H30": _Organ(
        "Ủy ban nhân dân tỉnh Hậu Giang", "UBND", "Hậu Giang",
        "Số 02 Điện Biên Phủ, phường V, thành phố Vị Thanh, Hậu Giang",
        "vanthu@haugiang.gov.vn", "0293.3876543", "https://haugiang.gov.vn",
        "Chủ tịch", "Phó Chủ tịch",
    ),
}  # fmt: skip

# kind → (DocumentType/Type, the notation's type abbreviation, subjects)
KINDS: dict[str, tuple[int, str, list[str]]] = {
    "công văn": (
        1,
        "",
        [
            "V/v triển khai kết nối, liên thông văn bản điện tử qua Trục liên thông văn bản quốc gia",
            "V/v đôn đốc báo cáo tình hình thực hiện nhiệm vụ Chính phủ giao quý III",
            "V/v góp ý dự thảo Nghị định sửa đổi, bổ sung một số điều về công tác văn thư",
            "V/v tăng cường bảo đảm an toàn thông tin mạng trong dịp nghỉ lễ",
            "V/v rà soát, cập nhật mã định danh điện tử của các cơ quan, đơn vị trực thuộc",
        ],
    ),
    "quyết định": (
        2,
        "QĐ",
        [
            "Quyết định ban hành Quy chế quản lý, vận hành Hệ thống quản lý văn bản và điều hành",
            "Quyết định phê duyệt Kế hoạch chuyển đổi số năm 2025",
            "Quyết định thành lập Tổ công tác triển khai Đề án 06 về dữ liệu dân cư",
        ],
    ),
    "tờ trình": (
        3,
        "TTr",
        [
            "Tờ trình đề nghị phê duyệt chủ trương đầu tư nâng cấp hạ tầng trung tâm dữ liệu",
            "Tờ trình về việc ban hành Nghị quyết về chính sách hỗ trợ người dân vùng lũ",
        ],
    ),
    "thông báo": (
        4,
        "TB",
        [
            "Thông báo kết luận của Phó Thủ tướng tại cuộc họp về cải cách thủ tục hành chính",
            "Thông báo lịch tiếp công dân định kỳ tháng 10",
        ],
    ),
    "báo cáo": (
        5,
        "BC",
        [
            "Báo cáo kết quả thực hiện Chỉ thị số 02/CT-TTg về phát triển Chính phủ số",
            "Báo cáo tình hình ứng phó, khắc phục hậu quả bão số 3 (Yagi)",
        ],
    ),
    "kế hoạch": (
        6,
        "KH",
        ["Kế hoạch tổ chức Hội nghị trực tuyến tổng kết công tác năm và triển khai nhiệm vụ"],
    ),
    "giấy mời": (
        7,
        "GM",
        ["Giấy mời dự họp trực tuyến về vận hành Trục liên thông văn bản quốc gia"],
    ),
}

_FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi"]
_MIDDLE = ["Văn", "Thị", "Đức", "Minh", "Thu", "Quốc", "Hữu", "Ngọc", "Thanh", "Xuân"]
_GIVEN = ["Hùng", "Hà", "Thắng", "Lan", "Dũng", "Hương", "Tuấn", "Yến", "Khải", "Phượng", "Đạt"]
_DEPARTMENTS = ["Văn phòng", "Phòng Hành chính – Tổng hợp", "Vụ Pháp chế", "Cục Chuyển đổi số"]
_UNITS = ["TTĐT", "VP", "KGVX", "PL", "TH", "KTTH", "QHĐP", "CĐS"]
_CONTENT = (
    "Thực hiện chỉ đạo của Thủ tướng Chính phủ, đề nghị các cơ quan, đơn vị khẩn trương triển "
    "khai, báo cáo kết quả về {sender} trước ngày {due} để tổng hợp. Trong quá trình thực hiện, "
    "nếu có vướng mắc, đề nghị liên hệ đầu mối theo địa chỉ thư điện tử {email}."
)
_STATUS_TEXT = {
    StatusCode.ARRIVED: "Văn bản đã đến hệ thống quản lý văn bản của đơn vị.",
    StatusCode.REFUSED: "Từ chối tiếp nhận: văn bản gửi không đúng thẩm quyền giải quyết.",
    StatusCode.ACCEPTED: "Đã tiếp nhận, vào sổ văn bản đến.",
    StatusCode.ASSIGNED: "Đã phân công Phòng Hành chính – Tổng hợp chủ trì xử lý.",
    StatusCode.IN_PROGRESS: "Đơn vị đang xử lý, dự kiến hoàn thành đúng hạn.",
    StatusCode.DONE: "Đã hoàn thành xử lý văn bản.",
    StatusCode.RECALL_ASKED: "Đề nghị lấy lại văn bản do sai sót về thể thức.",
    StatusCode.RECALL_AGREED: "Đồng ý cho lấy lại văn bản.",
    StatusCode.RECALL_REFUSED: "Không đồng ý lấy lại: văn bản đã được xử lý xong.",
}


def organization(organ_id: str) -> Organization:
    """The sample organ for `organ_id`, or a plausible stand-in for an id we do not list."""
    organ = ORGANS.get(organ_id)
    if organ is None:
        return Organization(organ_id=organ_id, organ_name=f"Cơ quan {organ_id}")
    return Organization(
        organ_id=organ_id,
        organization_in_charge=organ.name,
        organ_name=organ.name,
        organ_add=organ.address,
        email=organ.email,
        telephone=organ.telephone,
        website=organ.website,
    )


def _person(rng: random.Random) -> str:
    return f"{rng.choice(_FAMILY)} {rng.choice(_MIDDLE)} {rng.choice(_GIVEN)}"


def filler(size: int, seed: int | None = None) -> bytes:
    """`size` bytes that start like a PDF, the rest random."""
    rng = random.Random(seed)
    head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    return (head + rng.randbytes(max(0, size - len(head))))[:size]


class FillerReader:
    """A reader of `size` sample bytes, made as they are read: a large attachment for
    `edoc.write(..., attachment_source=...)` without holding it in memory. The bytes depend on
    the seed only, not on how they are read."""

    _BLOCK = 64 * 1024

    def __init__(self, size: int, seed: int | None = None) -> None:
        self.remaining = size
        self.rng = random.Random(seed)
        self.buffer = b"%PDF-1.7\n"

    def read(self, n: int = -1) -> bytes:
        n = self.remaining if n < 0 else min(n, self.remaining)
        if n <= 0:
            return b""
        parts = [self.buffer]
        have = len(self.buffer)
        while have < n:
            block = self.rng.randbytes(self._BLOCK)
            parts.append(block)
            have += len(block)
        joined = b"".join(parts)
        self.buffer = joined[n:]
        self.remaining -= n
        return joined[:n]


def _zip_one(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(name, data)
    return out.getvalue()


def make_letter(
    *,
    from_organ: str = "000.00.00.G22",
    to_organs: Sequence[str] = ("000.00.00.H26",),
    attachments: int = 1,
    size: int = 20_000,
    kind: str = "công văn",
    seed: int | None = None,
    doc_type: BussinessDocType = BussinessDocType.NEW,
    original: Package | None = None,
    with_data: bool = True,
    today: dt.date | None = None,
) -> Package:
    """A letter from `from_organ` to `to_organs` with `attachments` files of about `size` bytes.

    With `today`, the letter is dated within the three days before it and due 5 to 20 days after
    its date, as a letter being sent now is; without, its dates fall in 2024–2025 (fixed by `seed`).

    The first attachment is the signed letter itself (PDF); others alternate between a Word
    annex and a one-entry ZIP (how the reference writer sends a spreadsheet). With a recall,
    update or replace `doc_type`, `original` is the letter concerned. `with_data=False` leaves
    the attachments' bytes out (data None) for `write(..., attachment_source=...)`.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}")
    if not to_organs:
        raise ValueError("a letter needs at least one recipient")
    rng = random.Random(seed)
    sender = organization(from_organ)
    organ = ORGANS.get(from_organ)
    abbreviation = organ.abbreviation if organ else "CQ"
    type_number, type_abbreviation, subjects = KINDS[kind]
    number = f"{rng.randint(1, 9999):02d}"
    if type_abbreviation:
        notation = f"{type_abbreviation}-{abbreviation}"
    else:
        notation = f"{abbreviation}-{rng.choice(_UNITS)}"
    offset = rng.randint(0, 600)
    if today is None:
        date = dt.date(2024, 1, 1) + dt.timedelta(days=offset)
    else:
        date = today - dt.timedelta(days=offset % 4)
    due = date + dt.timedelta(days=rng.randint(5, 20))
    document_id = f"{from_organ},{format_date(date)},{number}/{notation}"
    response_for: list[ResponseFor] = []
    replacements: list[ReplacementInfo] = []
    reason = "Gửi văn bản mới"
    if original is not None and isinstance(original.header, MessageHeader):
        first = original.header
        reference = ResponseFor(
            first.from_.organ_id, str(first.code), first.document_id, first.promulgation_info.date
        )
        if doc_type in (BussinessDocType.RECALL, BussinessDocType.UPDATE):
            document_id = first.document_id  # a recall or update keeps the original's id
            response_for = [reference]
            reason = (
                "Thu hồi văn bản do sai sót về thể thức"
                if doc_type is BussinessDocType.RECALL
                else "Cập nhật thông tin văn bản đã gửi"
            )
        elif doc_type is BussinessDocType.REPLACE:
            replacements = [ReplacementInfo(first.document_id, [t.organ_id for t in first.to])]
            reason = "Thay thế văn bản đã gửi"
    signer = _person(rng)
    header = MessageHeader(
        from_=sender,
        to=[organization(o) for o in to_organs],
        document_id=document_id,
        code=Code(number, notation),
        promulgation_info=PromulgationInfo(organ.place if organ else "Hà Nội", date),
        document_type=DocumentType(type_number, None, kind[0].upper() + kind[1:]),
        subject=rng.choice(subjects),
        content=_CONTENT.format(
            sender=sender.organ_name, due=due.strftime("%d/%m/%Y"), email=sender.email or "—"
        ),
        signer_info=SignerInfo(
            f"KT. {organ.head}" if organ else "TL. Thủ trưởng cơ quan",
            organ.deputy if organ else "Chánh Văn phòng",
            signer,
        ),
        due_date=due,
        other_info=OtherInfo(
            priority=rng.choice([0, 0, 0, 1, 2]),
            sphere_of_promulgation="Văn bản hành chính",
            typer_notation="".join(w[0] for w in _person(rng).split()),
            promulgation_amount=rng.randint(5, 40),
            page_amount=rng.randint(1, 12),
            direction=False,
            appendixes=["Phụ lục I: Danh sách cơ quan, đơn vị thực hiện"]
            if attachments > 1
            else [],
        ),
        response_for=response_for,
        steering_type=rng.choice([0, 0, 1, 2]),
        to_places=["Như trên", "Lưu: VT, " + (rng.choice(_UNITS))],
    )
    files: list[Attachment] = []
    for index in range(attachments):
        content_id = f"{rng.getrandbits(128):032x}"
        slug = f"{number}-{notation.replace('/', '-')}"
        payload = filler(size, rng.getrandbits(32)) if with_data else None
        if index == 0:
            name, content_type, description = f"{slug}.pdf", "application/pdf", "Văn bản điện tử"
        elif index % 2:
            name = f"Phu_luc_{index}_{slug}.docx"
            content_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            description = f"Phụ lục {index} kèm theo văn bản"
        else:
            name, content_type, description = f"Danh_sach_{index}.zip", "application/zip", None
            if payload is not None:
                payload = _zip_one(f"Danh sách đơn vị {index}.xlsx", payload)
        if payload is not None:
            files.append(
                Attachment.from_bytes(
                    payload,
                    name=name,
                    content_id=content_id,
                    content_type=content_type,
                    description=description,
                )
            )
        else:
            files.append(
                Attachment(
                    content_id=content_id,
                    name=name,
                    content_type=content_type,
                    description=description,
                    size=size,
                    sha256="",
                )
            )
    sent = dt.datetime.combine(date, dt.time(8, 0), VN_TZ) + dt.timedelta(
        minutes=rng.randint(0, 540)
    )
    clerk = StaffInfo(
        department=rng.choice(_DEPARTMENTS),
        staff=_person(rng),
        email=sender.email,
        mobile=f"09{rng.randint(10_000_000, 99_999_999)}",
    )
    trace = TraceHeaderList(
        Bussiness(
            bussiness_doc_type=doc_type,
            document_id=document_id if doc_type is not BussinessDocType.NEW else None,
            bussiness_doc_reason=reason,
            paper=0,
            replacement_info_list=replacements,
            staff_info=[clerk],
        ),
        [TraceHeader(from_organ, sent)],
    )
    manifest = [
        ManifestReference(
            content_id=a.content_id,
            content_type=a.content_type,
            description=a.description,
            attachment_name=a.name,
        )
        for a in files
    ]
    return Package(header=header, trace=trace, manifest=manifest, attachments=files)


def make_status(
    letter: Package | None = None,
    *,
    from_organ: str | None = None,
    code: StatusCode | str = StatusCode.ARRIVED,
    seed: int | None = None,
    timestamp: dt.datetime | None = None,
) -> Package:
    """A Status receipt about `letter` (a sample letter if None), sent by `from_organ` (by
    default the letter's first recipient)."""
    rng = random.Random(seed)
    if letter is None:
        letter = make_letter(attachments=0, seed=rng.getrandbits(32))
    original = letter.header
    if not isinstance(original, MessageHeader):
        raise ValueError("a Status answers a letter, not another Status")
    status = code if isinstance(code, StatusCode) else StatusCode.from_code(code)
    if status is StatusCode.RECALL_ASKED:
        reporter = from_organ or original.from_.organ_id  # the sender asks for its letter back
    else:
        reporter = from_organ or original.to[0].organ_id
    if timestamp is None:
        sent = dt.datetime.combine(original.promulgation_info.date, dt.time(8, 0), VN_TZ)
        timestamp = sent + dt.timedelta(hours=rng.randint(1, 72), minutes=rng.randint(0, 59))
    sender = organization(reporter)
    return Package(
        header=StatusMessage(
            from_=sender,
            response_for=ResponseFor(
                original.from_.organ_id,
                str(original.code),
                original.document_id,
                original.promulgation_info.date,
            ),
            status_code=status,
            timestamp=timestamp,
            staff_info=StaffInfo(
                department=rng.choice(_DEPARTMENTS),
                staff=_person(rng),
                email=sender.email,
                mobile=f"09{rng.randint(10_000_000, 99_999_999)}",
            ),
            description=_STATUS_TEXT[status],
        )
    )


def open_filler(attachment: Attachment) -> FillerReader:
    """An `attachment_source` for letters made with `with_data=False`: `size` sample bytes."""
    return FillerReader(attachment.size, zlib.crc32(attachment.content_id.encode()))
