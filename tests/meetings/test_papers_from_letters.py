"""A paper taken from a letter the Government Office sent or received is that attachment's own
blob: the same SHA-256, no copy written. Any other letter is refused like an unknown one."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.meetings.conftest import GOV_OFFICE, Cabinet
from tests.support.world import World, WorldAgency


def _blob_files(cabinet: Cabinet) -> set[Path]:
    root = Path(cabinet.config.blob_url.removeprefix("file://"))
    return {p for p in root.rglob("*") if p.is_file()}


async def _send(cabinet: Cabinet, sender: WorldAgency, letter: bytes) -> str:
    answer = await cabinet.client.post("/v1/documents", data=letter, headers=sender.auth)
    assert answer.status == 202, await answer.text()
    return str((await answer.json())["document_id"])


async def _meeting_with_item(cabinet: Cabinet) -> tuple[str, str]:
    await cabinet.person("thuky", "secretariat")
    await cabinet.person("botaichinh", "member", title="Bộ trưởng Bộ Tài chính")
    starts = (datetime.now(UTC) + timedelta(days=10)).isoformat()
    meeting = await cabinet.call(
        "POST", "/v1/meetings", "thuky", 201,
        json={"title": "Phiên họp", "kind": "regular", "starts_at": starts, "place": "Hà Nội",
              "invitees": [cabinet.ids["botaichinh"]]},
    )  # fmt: skip
    item = await cabinet.call(
        "POST", f"/v1/meetings/{meeting['id']}/items", "thuky", 201, json={"title": "Đề án"}
    )
    return meeting["id"], item["id"]


async def test_a_paper_from_a_letter_the_office_sent_or_received_is_the_attachments_blob(
    cabinet: Cabinet, world: World
) -> None:
    gov = world.agencies[GOV_OFFICE]
    province = await world.register(cabinet.db, "000.00.00.H41", "UBND tỉnh Nghệ An")
    outgoing = b"%PDF-1.7 to trinh gui di" * 500
    incoming = b"%PDF-1.7 bao cao cua tinh" * 500
    sent_id = await _send(
        cabinet, gov, world.letter(gov, [province], attachments=[("to-trinh.pdf", outgoing)])
    )
    received_id = await _send(
        cabinet, province, world.letter(province, [gov], attachments=[("bao-cao.pdf", incoming)])
    )
    mid, item = await _meeting_with_item(cabinet)
    # Small letters: their packages are kept in the database, their attachments inside them.
    assert _blob_files(cabinet) == set()

    papers: list[dict[str, Any]] = []
    for document_id, ref, data in ((sent_id, 1, outgoing), (received_id, "1", incoming)):
        paper = await cabinet.call(
            "POST", f"/v1/meetings/{mid}/items/{item}/papers", "thuky", 201,
            json={"title": "Từ văn bản", "from_letter": {"document_id": document_id, "attachment": ref},
                  "audience": None},
        )  # fmt: skip
        assert paper["sha256"] == hashlib.sha256(data).hexdigest()
        assert paper["size"] == len(data) and paper["version"] == 1
        papers.append(paper)
    assert papers[0]["name"] == "to-trinh.pdf" and papers[1]["name"] == "bao-cao.pdf"
    # Each attachment was copied to the blob store once, where papers are read from; taking the
    # same attachment again copies nothing.
    before = _blob_files(cabinet)
    assert len(before) == 2
    await cabinet.call(
        "POST", f"/v1/meetings/{mid}/items/{item}/papers", "thuky", 201,
        json={"title": "Lần nữa", "from_letter": {"document_id": sent_id, "attachment": 1},
              "audience": None},
    )  # fmt: skip
    assert _blob_files(cabinet) == before

    await cabinet.call("POST", f"/v1/meetings/{mid}/packets", "thuky", 201, json={})
    for paper, data in zip(papers, (outgoing, incoming), strict=True):
        body = await cabinet.client.get(
            f"/v1/meetings/{mid}/papers/{paper['id']}", headers=cabinet.auth("botaichinh")
        )
        assert body.status == 200 and await body.read() == data


async def test_a_letter_the_office_neither_sent_nor_received_is_refused_like_an_unknown_one(
    cabinet: Cabinet, world: World
) -> None:
    province = await world.register(cabinet.db, "000.00.00.H41", "UBND tỉnh Nghệ An")
    ministry = await world.register(cabinet.db, "000.00.00.G12", "Bộ Tài chính")
    other_id = await _send(
        cabinet,
        province,
        world.letter(province, [ministry], attachments=[("rieng.pdf", b"%PDF-1.7 thu rieng")]),
    )
    mid, item = await _meeting_with_item(cabinet)
    answers = []
    for document_id in (other_id, "019ab1f0-7c3e-7a10-9c1e-5b2f0e6d4a11"):
        answer = await cabinet.call(
            "POST", f"/v1/meetings/{mid}/items/{item}/papers", "thuky", 422,
            json={"title": "Không được", "from_letter": {"document_id": document_id, "attachment": 1}},
        )  # fmt: skip
        assert answer["error"]["where"] == "from_letter"
        answers.append(answer["error"]["code"])
    assert answers == ["unprocessable", "unprocessable"]
    assert await cabinet.db.fetchval("SELECT count(*) FROM meeting_papers") == 0
