"""Helpers for the written consultations' tests: a Government with personal certificates, a
consultation drafted and opened through the API, ballots signed with the members' own keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from meetings import people
from signing.devca import DevCA, IssuedCertificate
from signing.keys import load_certificates, load_private_key
from signing.seal import Seal
from tests.meetings.conftest import GOV_OFFICE, Cabinet

MINISTRY = "000.00.00.B01"


@dataclass
class Government:
    cabinet: Cabinet
    ca: DevCA
    keys: dict[str, IssuedCertificate] = field(default_factory=dict)

    async def member(self, login: str, key_type: str = "ec", **extra: Any) -> str:
        issued = self.ca.issue(
            GOV_OFFICE,
            "Văn phòng Chính phủ",
            person=login.title(),
            key_type=key_type,  # type: ignore[arg-type]
        )
        self.keys[login] = issued
        cert = people.load_certificate(issued.cert_path.read_bytes(), str(issued.cert_path))
        return await self.cabinet.person(login, "member", certificates=[cert], **extra)

    def sign(
        self, login: str, payload: dict[str, Any], *, as_login: str | None = None
    ) -> dict[str, Any]:
        issued = self.keys[as_login or login]
        seal = Seal(load_private_key(issued.key_path), load_certificates(issued.cert_path))
        return seal.sign_json(payload)

    def payload(
        self, consultation: dict[str, Any], login: str, choices: list[str], **extra: Any
    ) -> dict[str, Any]:
        answers = []
        for n, choice in enumerate(choices, start=1):
            answer: dict[str, Any] = {"question": n, "choice": choice}
            if choice != "agree":
                answer["comment"] = f"Ý kiến của {login} về câu {n}"
            answers.append(answer)
        return {
            "type": "axis.cabinet.ballot",
            "consultation_id": consultation["id"],
            "form_sha256": consultation["form_sha256"],
            "member": self.cabinet.ids[login],
            "answers": answers,
            "signed_at": datetime.now(UTC).isoformat(),
            **extra,
        }

    async def vote(
        self, consultation: dict[str, Any], login: str, choices: list[str], expect: int = 201
    ) -> Any:
        ballot = self.sign(login, self.payload(consultation, login, choices))
        return await self.cabinet.call(
            "POST", f"/v1/consultations/{consultation['id']}/ballots", login, expect, json=ballot
        )


async def government(cabinet: Cabinet, ca: DevCA, members: int = 4) -> Government:
    """The secretariat, the Prime Minister (chair, RSA key) and `members - 1` ministers (EC keys),
    a deputy and a member who does not vote."""
    gov = Government(cabinet, ca)
    await cabinet.person("thuky", "secretariat")
    await gov.member("thutuong", key_type="rsa", chair=True, title="Thủ tướng")
    for n in range(1, members):
        await gov.member(f"botruong{n}", title=f"Bộ trưởng {n}")
    await cabinet.person("thutruong", "deputy", title="Thứ trưởng")
    await gov.member("khongbieuquyet", votes=False, title="Thành viên không biểu quyết")
    return gov


def draft_body(**extra: Any) -> dict[str, Any]:
    return {
        "title": "Dự thảo Nghị định về quản lý ngân sách",
        "summary": "Bộ Tài chính đề nghị các thành viên Chính phủ cho ý kiến.",
        "requested_by": MINISTRY,
        "request_letter": None,
        "questions": ["Đồng ý ban hành Nghị định?", "Đồng ý hiệu lực từ 1/1/2027?"],
        "members": None,
        "deadline": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
        "papers": [],
        **extra,
    }


async def opened(cabinet: Cabinet, **extra: Any) -> dict[str, Any]:
    made = await cabinet.call("POST", "/v1/consultations", "thuky", 201, json=draft_body(**extra))
    result: dict[str, Any] = await cabinet.call(
        "POST", f"/v1/consultations/{made['id']}/open", "thuky", 200
    )
    return result
