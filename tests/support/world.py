"""A small world of agencies for tests: a development CA, registered agencies and signed letters."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

import edoc
import signing
from axis.core import agencies
from signing.devca import DevCA, IssuedCertificate


@dataclass
class WorldAgency:
    organ_id: str
    name: str
    token: str
    issued: IssuedCertificate | None
    sent: int = 0

    @property
    def key(self) -> signing.PrivateKey:
        assert self.issued is not None
        return signing.load_private_key(self.issued.key_path)

    @property
    def chain(self) -> list[Any]:
        assert self.issued is not None
        return [self.issued.certificate, *self.issued.chain]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def letter_package(
    sender: str,
    recipients: list[str],
    *,
    number: str = "15",
    subject: str = "Về việc triển khai gửi, nhận văn bản điện tử qua Trục liên thông",
    document_id: str | None = None,
    attachments: list[tuple[str, bytes]] | None = None,
    business_type: edoc.BussinessDocType = edoc.BussinessDocType.NEW,
    response_for: list[edoc.ResponseFor] | None = None,
    sender_name: str = "Văn phòng Chính phủ",
) -> edoc.Package:
    today = dt.date(2026, 11, 23)
    notation = "VPCP-TTĐT"
    header = edoc.MessageHeader(
        from_=edoc.Organization(
            organ_id=sender, organ_name=sender_name, organ_add="1 Hoàng Hoa Thám, Hà Nội"
        ),
        to=[edoc.Organization(organ_id=r, organ_name=f"Đơn vị {r}") for r in recipients],
        document_id=document_id
        or f"{sender},2026/11/23,{number}/{notation}-{uuid.uuid4().hex[:6]}",
        code=edoc.Code(number=number, notation=notation),
        promulgation_info=edoc.PromulgationInfo(place="Hà Nội", date=today),
        document_type=edoc.DocumentType(type=1, type_name="Công văn"),
        subject=subject,
        content="Kính gửi các bộ, ngành, địa phương: đề nghị thực hiện nghiêm túc.",
        signer_info=edoc.SignerInfo(
            competence="KT. BỘ TRƯỞNG", position="Thứ trưởng", full_name="Nguyễn Văn Ấn"
        ),
        # Due ten days from the real today: a letter sent by a test is never overdue on arrival.
        due_date=dt.datetime.now(edoc.VN_TZ).date() + dt.timedelta(days=10),
        response_for=response_for or [],
        steering_type=1,
    )
    files = [
        edoc.Attachment.from_bytes(data, name=name, content_id=f"att{i}")
        for i, (name, data) in enumerate(attachments or [], start=1)
    ]
    trace = edoc.TraceHeaderList(
        bussiness=edoc.Bussiness(
            bussiness_doc_type=business_type, bussiness_doc_reason="", paper=0
        ),
        trace_headers=[edoc.TraceHeader(organ_id=sender, timestamp=dt.datetime.now(dt.UTC))],
    )
    manifest = [
        edoc.ManifestReference(
            content_id=a.content_id, content_type=a.content_type, attachment_name=a.name
        )
        for a in files
    ]
    return edoc.Package(header=header, trace=trace, manifest=manifest, attachments=files)


@dataclass
class World:
    ca: DevCA
    trust_dir: Path
    agencies: dict[str, WorldAgency] = field(default_factory=dict)

    async def register(
        self,
        conn: asyncpg.Connection,
        organ_id: str,
        name: str | None = None,
        *,
        webhook: str | None = None,
        allow_private: bool = True,
        with_cert: bool = True,
    ) -> WorldAgency:
        name = name or f"Cơ quan {organ_id}"
        issued = self.ca.issue(organ_id, name) if with_cert else None
        certs = [issued.certificate] if issued else []
        _, token = await agencies.add(
            conn,
            organ_id=organ_id,
            name=name,
            webhook_url=webhook,
            # The tests' webhooks listen on 127.0.0.1, which a real agency may use only when allowed.
            allow_private=allow_private,
            certificates=certs,
        )
        agency = WorldAgency(organ_id, name, token, issued)
        self.agencies[organ_id] = agency
        return agency

    def signed(self, sender: WorldAgency, package: edoc.Package) -> bytes:
        return signing.sign(edoc.build(package), sender.key, sender.chain)

    def status(
        self,
        reporter: WorldAgency,
        letter: bytes,
        code: str,
        *,
        description: str = "Đã xử lý theo quy định",
    ) -> bytes:
        """A Status package about `letter`, signed by `reporter`."""
        original = edoc.parse(letter)
        header = original.header
        assert isinstance(header, edoc.MessageHeader)
        message = edoc.StatusMessage(
            from_=edoc.Organization(organ_id=reporter.organ_id, organ_name=reporter.name),
            response_for=edoc.ResponseFor(
                organ_id=header.from_.organ_id,
                code=f"{header.code.number}/{header.code.notation}",
                document_id=header.document_id,
                promulgation_date=header.promulgation_info.date,
            ),
            status_code=edoc.StatusCode.from_code(code),
            timestamp=dt.datetime.now(dt.UTC),
            description=description,
            staff_info=edoc.StaffInfo(department="Văn thư", staff="Trần Thị Bình"),
        )
        return self.signed(reporter, edoc.Package(header=message))

    def letter(
        self, sender: WorldAgency, recipients: list[WorldAgency | str], **kwargs: Any
    ) -> bytes:
        sender.sent += 1
        kwargs.setdefault("number", str(sender.sent))
        to = [r if isinstance(r, str) else r.organ_id for r in recipients]
        return self.signed(sender, letter_package(sender.organ_id, to, **kwargs))
