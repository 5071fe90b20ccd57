"""`axis meeting import DIR`: agenda.json and its files become a draft meeting whose papers are the
files' bytes; a bad file names the field or the line and creates nothing."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.meetings.conftest import Cabinet, axis


def _env(cabinet: Cabinet) -> dict[str, str]:
    return {
        "AXIS_DATABASE_URL": cabinet.config.database_url,
        "AXIS_BLOB_URL": cabinet.config.blob_url,
    }


async def _people(cabinet: Cabinet) -> None:
    await cabinet.person("thuky", "secretariat")
    await cabinet.person("thutuong", "member", chair=True, title="Thủ tướng")
    await cabinet.person("botaichinh", "member", title="Bộ trưởng Bộ Tài chính")


def _folder(tmp_path: Path, **changes: Any) -> Path:
    folder = tmp_path / "phien-hop"
    (folder / "bo-tai-chinh").mkdir(parents=True, exist_ok=True)
    (folder / "to-trinh.pdf").write_bytes(b"%PDF-1.7 to trinh " * 3000)
    (folder / "bo-tai-chinh" / "phu-luc.pdf").write_bytes(b"%PDF-1.7 phu luc mat " * 2000)
    agenda = {
        "title": "Phiên họp Chính phủ thường kỳ tháng 6",
        "kind": "regular",
        "starts_at": (datetime.now(UTC) + timedelta(days=10)).isoformat(),
        "place": "Trụ sở Chính phủ",
        "invitees": ["thutuong", "botaichinh"],
        "items": [
            {
                "title": "Dự thảo Nghị định về quản lý nợ công",
                "presenter": "Bộ Tài chính",
                "papers": [
                    {"title": "Tờ trình", "file": "to-trinh.pdf", "content_type": "application/pdf"},
                    {"title": "Phụ lục mật", "file": "bo-tai-chinh/phu-luc.pdf",
                     "confidential": True, "audience": ["botaichinh"]},
                ],
            },
            {"title": "Các vấn đề khác", "papers": []},
        ],
    }  # fmt: skip
    agenda.update(changes)
    (folder / "agenda.json").write_text(json.dumps(agenda, ensure_ascii=False, indent=2))
    return folder


async def _count(cabinet: Cabinet) -> tuple[int, int, int]:
    return (
        await cabinet.db.fetchval("SELECT count(*) FROM meetings"),
        await cabinet.db.fetchval("SELECT count(*) FROM meeting_papers"),
        await cabinet.db.fetchval("SELECT count(*) FROM cabinet_files"),
    )


async def test_import_makes_a_draft_meeting_whose_papers_are_the_files(
    cabinet: Cabinet, tmp_path: Path
) -> None:
    await _people(cabinet)
    folder = _folder(tmp_path)
    code, out, err = await axis(
        "meeting", "import", str(folder), "--as", "thuky", "--json", env=_env(cabinet)
    )
    assert code == 0, err
    made = json.loads(out)
    assert made["state"] == "draft" and made["title"] == "Phiên họp Chính phủ thường kỳ tháng 6"
    assert sorted(i["person_id"] for i in made["invitees"]) == sorted(
        [cabinet.ids["thutuong"], cabinet.ids["botaichinh"]]
    )
    assert [i["title"] for i in made["items"]] == [
        "Dự thảo Nghị định về quản lý nợ công",
        "Các vấn đề khác",
    ]
    public, secret = made["items"][0]["papers"]
    assert public["sha256"] == hashlib.sha256((folder / "to-trinh.pdf").read_bytes()).hexdigest()
    assert public["audience"] is None and public["content_type"] == "application/pdf"
    assert secret["confidential"] and secret["audience"] == [cabinet.ids["botaichinh"]]
    assert secret["name"] == "phu-luc.pdf"

    # It is a meeting like any other: sent through the API, the member reads the file's bytes.
    await cabinet.call("POST", f"/v1/meetings/{made['id']}/packets", "thuky", 201, json={})
    body = await cabinet.call(
        "GET", f"/v1/meetings/{made['id']}/papers/{secret['id']}", "botaichinh", 200
    )
    assert body.encode() == (folder / "bo-tai-chinh" / "phu-luc.pdf").read_bytes()
    await cabinet.call("GET", f"/v1/meetings/{made['id']}/papers/{secret['id']}", "thutuong", 404)


async def test_a_bad_agenda_names_the_field_or_line_and_creates_nothing(
    cabinet: Cabinet, tmp_path: Path
) -> None:
    await _people(cabinet)
    env = _env(cabinet)
    before = await _count(cabinet)

    async def refused(folder: Path, *expected: str, login: str = "thuky") -> None:
        code, out, err = await axis("meeting", "import", str(folder), "--as", login, env=env)
        assert code == 1, out
        for text in expected:
            assert text in err, err
        assert await _count(cabinet) == before

    folder = _folder(tmp_path)
    (folder / "agenda.json").write_text('{\n  "title": "x",\n  "kind": ,\n}\n')
    await refused(folder, "agenda.json line 3")

    items = json.loads(json.dumps(_base_items()))
    items[0]["papers"][1]["file"] = "thieu.pdf"
    await refused(_folder(tmp_path, items=items), "items[0].papers[1].file", "thieu.pdf")
    items[0]["papers"][1]["file"] = "../agenda-khac.pdf"
    await refused(_folder(tmp_path, items=items), "items[0].papers[1].file", "outside")
    items = _base_items()
    items[0]["papers"][1]["audience"] = ["khong-co-ai"]
    await refused(_folder(tmp_path, items=items), "items[0].papers[1].audience[0]", "khong-co-ai")
    items = _base_items()
    items[0]["papers"][0]["pages"] = 3
    await refused(_folder(tmp_path, items=items), "items[0].papers[0].pages: unknown field")
    # Found by the services, late: the meeting and its first item were made, then rolled back.
    items = _base_items()
    items[1]["title"] = ""
    await refused(_folder(tmp_path, items=items), "items[1].title")
    items = _base_items()
    items[0]["papers"][1]["confidential"] = "có"
    await refused(_folder(tmp_path, items=items), "items[0].papers[1].confidential")
    await refused(_folder(tmp_path, starts_at="ngày mai"), "starts_at")
    await refused(_folder(tmp_path), "--as", "botaichinh is a member", login="botaichinh")


def _base_items() -> list[dict[str, Any]]:
    return [
        {"title": "Dự thảo Nghị định", "presenter": "Bộ Tài chính",
         "papers": [{"title": "Tờ trình", "file": "to-trinh.pdf"},
                    {"title": "Phụ lục", "file": "bo-tai-chinh/phu-luc.pdf", "audience": ["botaichinh"]}]},
        {"title": "Các vấn đề khác"},
    ]  # fmt: skip
