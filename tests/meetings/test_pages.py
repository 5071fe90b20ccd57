"""The cabinet's pages over HTTP: a cabinet person signs in on the axis's /login page; members read
only what their packet holds (404 otherwise, as in the API), see new versions and taken-back papers,
answer attendance with a stand-in and record positions; the secretariat builds, sends, watches reads,
takes back and closes; every POST needs the session's CSRF token; the page updates itself live."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import aiohttp
import pytest

from tests.meetings.conftest import PASSWORD, Cabinet

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Visitor:
    """One person's browser: their own cookies, logged in through the axis's /login form."""

    def __init__(self, cabinet: Cabinet) -> None:
        self.base = str(cabinet.client.make_url("")).rstrip("/")
        self.http = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True), auto_decompress=False
        )
        self.csrf = ""

    async def login(
        self, login: str, password: str = PASSWORD, next: str = ""
    ) -> aiohttp.ClientResponse:
        form = await self.http.get(f"{self.base}/login")
        token = CSRF.search(await form.text())
        assert token, "the login form carries a CSRF token"
        answer = await self.http.post(
            f"{self.base}/login",
            data={"csrf_token": token.group(1), "login": login, "password": password, "next": next},
            allow_redirects=False,
        )
        return answer

    async def get(self, path: str, expect: int = 200) -> str:
        answer = await self.http.get(f"{self.base}{path}", allow_redirects=False)
        text = await answer.text(errors="replace")
        assert answer.status == expect, f"GET {path}: {answer.status} {text[:2000]}"
        found = CSRF.search(text)
        if found:
            self.csrf = found.group(1)
        return html.unescape(text)

    async def post(
        self, path: str, data: Any, expect: int = 303, csrf: bool = True
    ) -> tuple[str, str]:
        if csrf:
            if isinstance(data, aiohttp.FormData):
                pass  # the caller put the token first
            else:
                data = {"csrf_token": self.csrf, **data}
        answer = await self.http.post(f"{self.base}{path}", data=data, allow_redirects=False)
        text = html.unescape(await answer.text())
        assert answer.status == expect, f"POST {path}: {answer.status} {text[:2000]}"
        return answer.headers.get("Location", ""), text

    async def close(self) -> None:
        await self.http.close()


@pytest.fixture
async def browsers(cabinet: Cabinet) -> AsyncIterator[Any]:
    opened: list[Visitor] = []

    async def make(login: str | None = None) -> Visitor:
        visitor = Visitor(cabinet)
        opened.append(visitor)
        if login is not None:
            answer = await visitor.login(login)
            assert answer.status == 303, await answer.text()
            assert answer.headers["Location"] == "/cabinet"
        return visitor

    yield make
    for visitor in opened:
        await visitor.close()


async def _people(cabinet: Cabinet) -> None:
    await cabinet.person("thuky", "secretariat", full_name="Nguyễn Văn Thư")
    await cabinet.person(
        "thutuong", "member", chair=True, title="Thủ tướng", full_name="Phạm Minh Chính"
    )
    await cabinet.person(
        "botaichinh", "member", title="Bộ trưởng Bộ Tài chính", full_name="Hồ Đức Phớc"
    )
    await cabinet.person(
        "boquocphong", "member", title="Bộ trưởng Bộ Quốc phòng", full_name="Phan Văn Giang"
    )
    await cabinet.person("thutruong", "deputy", title="Thứ trưởng Bộ Tài chính", full_name="Lê Thị Thuỷ")  # fmt: skip


async def _sent_meeting(cabinet: Cabinet) -> dict[str, str]:
    """A sent meeting: one paper for everyone, one only for the finance minister."""
    await _people(cabinet)
    ids = cabinet.ids
    starts = (datetime.now(UTC) + timedelta(days=10)).isoformat()
    meeting = await cabinet.call(
        "POST", "/v1/meetings", "thuky", 201,
        json={"title": "Phiên họp Chính phủ thường kỳ tháng 5", "kind": "regular", "starts_at": starts,
              "place": "Nhà Quốc hội", "invitees": [ids["thutuong"], ids["botaichinh"], ids["boquocphong"]]},
    )  # fmt: skip
    mid = meeting["id"]
    item = await cabinet.call(
        "POST", f"/v1/meetings/{mid}/items", "thuky", 201,
        json={"title": "Dự thảo Nghị định về ngân sách", "presenter": "Bộ Tài chính"},
    )  # fmt: skip
    sha_public = (await cabinet.call("POST", "/v1/cabinet/files", "thuky", 201, data=b"%PDF-1.7 chung" * 500))["sha256"]  # fmt: skip
    sha_secret = (await cabinet.call("POST", "/v1/cabinet/files", "thuky", 201, data=b"%PDF-1.7 mat" * 500))["sha256"]  # fmt: skip
    public = await cabinet.call(
        "POST", f"/v1/meetings/{mid}/items/{item['id']}/papers", "thuky", 201,
        json={"title": "Tờ trình chung", "file_sha256": sha_public, "name": "to-trinh.pdf",
              "content_type": "application/pdf", "audience": None},
    )  # fmt: skip
    secret = await cabinet.call(
        "POST", f"/v1/meetings/{mid}/items/{item['id']}/papers", "thuky", 201,
        json={"title": "Phụ lục mật", "file_sha256": sha_secret, "name": "phu-luc.pdf",
              "content_type": "application/pdf", "confidential": True, "audience": [ids["botaichinh"]]},
    )  # fmt: skip
    await cabinet.call("POST", f"/v1/meetings/{mid}/packets", "thuky", 201, json={})
    return {"id": mid, "item": item["id"], "public": public["id"], "secret": secret["id"]}


async def test_a_cabinet_person_signs_in_on_the_login_page_and_sees_their_meetings(
    cabinet: Cabinet, browsers: Any
) -> None:
    m = await _sent_meeting(cabinet)
    starts = (datetime.now(UTC) + timedelta(days=20)).isoformat()
    draft = await cabinet.call(
        "POST", "/v1/meetings", "thuky", 201,
        json={"title": "Họp chuyên đề (nháp)", "kind": "thematic", "starts_at": starts,
              "place": "Phòng họp số 1", "invitees": [cabinet.ids["botaichinh"]]},
    )  # fmt: skip
    # Not signed in: the page sends them to the axis's login form, and back after it.
    anonymous = await browsers()
    answer = await anonymous.http.get(f"{anonymous.base}/cabinet", allow_redirects=False)
    assert answer.status == 303
    assert unquote(answer.headers["Location"]) == "/login?next=/cabinet"
    back = await anonymous.login("botaichinh", next=f"/cabinet/meetings/{m['id']}")
    assert back.status == 303 and back.headers["Location"] == f"/cabinet/meetings/{m['id']}"
    wrong = await (await browsers()).login("botaichinh", password="sai-mat-khau-roi")
    assert wrong.status == 401

    member = await browsers("botaichinh")
    start = await member.http.get(f"{member.base}/", allow_redirects=False)
    assert start.status == 303 and start.headers["Location"] == "/cabinet"  # not the letters
    page = await member.get("/cabinet")
    assert "Hồ Đức Phớc" in page and "Phiên họp Chính phủ thường kỳ tháng 5" in page
    assert "Họp chuyên đề (nháp)" not in page  # a draft is not there for members
    await member.get(f"/cabinet/meetings/{draft['id']}", expect=404)

    secretariat = await browsers("thuky")
    page = await secretariat.get("/cabinet")
    assert "Họp chuyên đề (nháp)" in page and "Tạo cuộc họp" in page

    # Logging out ends the session: the page asks to log in again.
    await member.get("/cabinet")
    location, _ = await member.post("/cabinet/logout", {})
    assert location == "/login?done=logout"
    await member.get("/cabinet", expect=303)


async def test_a_member_sees_only_papers_meant_for_them_and_reads_them_inline(
    cabinet: Cabinet, browsers: Any
) -> None:
    m = await _sent_meeting(cabinet)
    finance, defence = await browsers("botaichinh"), await browsers("boquocphong")
    page = await finance.get(f"/cabinet/meetings/{m['id']}")
    assert "Tờ trình chung" in page and "Phụ lục mật" in page
    page = await defence.get(f"/cabinet/meetings/{m['id']}")
    assert "Tờ trình chung" in page and "Phụ lục mật" not in page
    await defence.get(f"/cabinet/meetings/{m['id']}/papers/{m['secret']}", expect=404)

    answer = await finance.http.get(
        f"{finance.base}/cabinet/meetings/{m['id']}/papers/{m['secret']}"
    )
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/pdf"
    assert answer.headers["Content-Disposition"].startswith("inline;")
    assert await answer.read() == b"%PDF-1.7 mat" * 500
    # The opening is recorded as through the API: the secretariat's page no longer lists them.
    reads = await cabinet.call("GET", f"/v1/meetings/{m['id']}/reads", "thuky", 200)
    secret = next(p for p in reads["papers"] if p["paper_id"] == m["secret"])
    assert [o["person_id"] for o in secret["opened"]] == [cabinet.ids["botaichinh"]]
    page = await (await browsers("thuky")).get(f"/cabinet/meetings/{m['id']}")
    row = re.search(rf'data-testid="read-row" data-paper="{m["public"]}">(.*?)</tr>', page, re.S)
    assert row and "Phan Văn Giang" in row.group(1) and "Hồ Đức Phớc" in row.group(1)

    # Another meeting, a made-up id: 404 like the API.
    await finance.get("/cabinet/meetings/00000000-0000-7000-8000-000000000000", expect=404)
    await finance.get("/cabinet/meetings/not-an-id", expect=404)


async def test_a_new_version_is_marked_new_until_opened_and_a_taken_back_paper_is_marked(
    cabinet: Cabinet, browsers: Any
) -> None:
    m = await _sent_meeting(cabinet)
    sha = (await cabinet.call("POST", "/v1/cabinet/files", "thuky", 201, data=b"%PDF-1.7 v2" * 400))["sha256"]  # fmt: skip
    await cabinet.call(
        "POST", f"/v1/meetings/{m['id']}/papers/{m['public']}/versions", "thuky", 201,
        json={"file_sha256": sha, "name": "to-trinh-v2.pdf"},
    )  # fmt: skip
    member = await browsers("boquocphong")
    page = await member.get(f"/cabinet/meetings/{m['id']}")
    assert "Mới / New version" not in page  # not sent yet: they still see version 1
    await cabinet.call("POST", f"/v1/meetings/{m['id']}/packets", "thuky", 201, json={})
    page = await member.get(f"/cabinet/meetings/{m['id']}")
    assert "Mới / New version" in page and "v2" in page
    body = await member.http.get(f"{member.base}/cabinet/meetings/{m['id']}/papers/{m['public']}")
    assert await body.read() == b"%PDF-1.7 v2" * 400
    page = await member.get(f"/cabinet/meetings/{m['id']}")
    assert "Mới / New version" not in page

    await cabinet.call(
        "POST", f"/v1/meetings/{m['id']}/take-back", "thuky", 200, json={"papers": [m["public"]]}
    )
    page = await member.get(f"/cabinet/meetings/{m['id']}")
    assert "Đã thu hồi / Taken back" in page
    assert f'/papers/{m["public"]}"' not in page  # no link left to it
    await member.get(f"/cabinet/meetings/{m['id']}/papers/{m['public']}", expect=410)


async def test_a_member_answers_attendance_with_a_stand_in_who_then_reads_their_papers(
    cabinet: Cabinet, browsers: Any
) -> None:
    m = await _sent_meeting(cabinet)
    finance = await browsers("botaichinh")
    await finance.get(f"/cabinet/meetings/{m['id']}")
    # A member is no stand-in: 400 naming the field, nothing recorded.
    _, text = await finance.post(
        f"/cabinet/meetings/{m['id']}/attendance",
        {
            "attending": "no",
            "reason": "Công tác nước ngoài",
            "stand_in": cabinet.ids["boquocphong"],
        },
        expect=400,
    )
    assert "stand_in" in text
    meeting = await cabinet.call("GET", f"/v1/meetings/{m['id']}", "thuky", 200)
    mine = next(i for i in meeting["invitees"] if i["person_id"] == cabinet.ids["botaichinh"])
    assert mine["attendance"] is None

    location, _ = await finance.post(
        f"/cabinet/meetings/{m['id']}/attendance",
        {"attending": "no", "reason": "Công tác nước ngoài", "stand_in": cabinet.ids["thutruong"]},
    )
    assert location.endswith("?done=attendance")
    page = await finance.get(location)
    assert "Vắng mặt / Absent" in page and "Lê Thị Thuỷ" in page
    meeting = await cabinet.call("GET", f"/v1/meetings/{m['id']}", "thuky", 200)
    mine = next(i for i in meeting["invitees"] if i["person_id"] == cabinet.ids["botaichinh"])
    assert mine["attendance"] == "absent" and mine["stand_in"] == cabinet.ids["thutruong"]

    deputy = await browsers("thutruong")
    page = await deputy.get(f"/cabinet/meetings/{m['id']}")
    assert "Họp thay cho" in page and "Hồ Đức Phớc" in page
    assert "Phụ lục mật" in page  # reads what their member reads
    assert 'data-testid="attendance"' not in page and 'data-testid="my-positions"' not in page


async def test_a_voting_member_records_a_position_on_an_item(
    cabinet: Cabinet, browsers: Any
) -> None:
    m = await _sent_meeting(cabinet)
    member = await browsers("boquocphong")
    await member.get(f"/cabinet/meetings/{m['id']}")
    _, text = await member.post(
        f"/cabinet/meetings/{m['id']}/items/{m['item']}/position",
        {"position": "object", "comment": ""},
        expect=400,
    )
    assert "comment" in text
    await member.post(
        f"/cabinet/meetings/{m['id']}/items/{m['item']}/position",
        {"position": "object", "comment": "Cần đánh giá tác động"},
    )
    page = await member.get(f"/cabinet/meetings/{m['id']}")
    assert 'data-testid="my-position">Không đồng ý / Object' in page
    page = await (await browsers("thuky")).get(f"/cabinet/meetings/{m['id']}")
    assert "Phan Văn Giang: Cần đánh giá tác động" in page


async def test_every_post_needs_a_session_and_its_csrf_token_and_members_cannot_run_the_meeting(
    cabinet: Cabinet, browsers: Any
) -> None:
    m = await _sent_meeting(cabinet)
    member = await browsers("botaichinh")
    await member.get(f"/cabinet/meetings/{m['id']}")
    path = f"/cabinet/meetings/{m['id']}/attendance"
    await member.post(path, {"attending": "yes"}, expect=403, csrf=False)
    await member.post(path, {"attending": "yes", "csrf_token": "guessed"}, expect=403, csrf=False)
    await (await browsers()).post(path, {"attending": "yes"}, expect=403, csrf=False)
    meeting = await cabinet.call("GET", f"/v1/meetings/{m['id']}", "thuky", 200)
    assert all(i["attendance"] is None for i in meeting["invitees"])

    # The secretariat's forms refuse a member (403) and change nothing.
    await member.post(f"/cabinet/meetings/{m['id']}/close", {}, expect=403)
    await member.post(f"/cabinet/meetings/{m['id']}/take-back", {"papers": m["public"]}, expect=403)
    await member.post(f"/cabinet/meetings/{m['id']}/packets", {}, expect=403)
    meeting = await cabinet.call("GET", f"/v1/meetings/{m['id']}", "thuky", 200)
    assert meeting["state"] == "sent"
    assert all(p["state"] == "available" for i in meeting["items"] for p in i["papers"])
    # An agency clerk's session is no cabinet session.
    await member.get("/letters/received", expect=303)


async def test_the_secretariat_builds_sends_watches_takes_back_and_closes_on_the_pages(
    cabinet: Cabinet, browsers: Any
) -> None:
    await _people(cabinet)
    office = await browsers("thuky")
    await office.get("/cabinet")
    soon = (datetime.now(UTC) + timedelta(days=1)).astimezone().strftime("%Y-%m-%dT%H:%M")
    location, _ = await office.post(
        "/cabinet/meetings",
        {"title": "Phiên họp bất thường", "kind": "extraordinary", "starts_at": soon,
         "place": "Trụ sở Chính phủ", "invitees": cabinet.ids["botaichinh"]},
    )  # fmt: skip
    mid = location.split("/")[-1].split("?")[0]
    meeting = await cabinet.call("GET", f"/v1/meetings/{mid}", "thuky", 200)
    assert meeting["state"] == "draft" and meeting["title"] == "Phiên họp bất thường"
    await office.get(location)
    await office.post(
        f"/cabinet/meetings/{mid}/items", {"title": "Ứng phó bão số 3", "presenter": ""}
    )
    meeting = await cabinet.call("GET", f"/v1/meetings/{mid}", "thuky", 200)
    item = meeting["items"][0]["id"]

    form = aiohttp.FormData()
    form.add_field("csrf_token", office.csrf)
    form.add_field("title", "Báo cáo nhanh")
    form.add_field(
        "file", b"%PDF-1.7 bao cao" * 300, filename="bao-cao.pdf", content_type="application/pdf"
    )
    await office.post(f"/cabinet/meetings/{mid}/items/{item}/papers", form)
    empty = aiohttp.FormData()
    empty.add_field("csrf_token", office.csrf)
    empty.add_field("title", "Không có tệp")
    _, text = await office.post(f"/cabinet/meetings/{mid}/items/{item}/papers", empty, expect=400)
    assert "file" in text
    meeting = await cabinet.call("GET", f"/v1/meetings/{mid}", "thuky", 200)
    [paper] = meeting["items"][0]["papers"]
    assert paper["name"] == "bao-cao.pdf" and paper["content_type"] == "application/pdf"

    # Tomorrow is inside the notice period: a 409 naming it, unless urgent with a reason.
    _, text = await office.post(f"/cabinet/meetings/{mid}/packets", {}, expect=409)
    assert "days before the meeting" in text and "urgent with a reason" in text
    await office.post(f"/cabinet/meetings/{mid}/packets", {"urgent": "on"}, expect=400)
    await office.post(
        f"/cabinet/meetings/{mid}/packets", {"urgent": "on", "reason": "Bão khẩn cấp"}
    )
    page = await office.get(f"/cabinet/meetings/{mid}")
    row = re.search(rf'data-testid="read-row" data-paper="{paper["id"]}">(.*?)</tr>', page, re.S)
    assert row and "Hồ Đức Phớc" in row.group(1).split('data-testid="not-opened"')[1]
    member = await browsers("botaichinh")
    page = await member.get(f"/cabinet/meetings/{mid}")
    assert "Bão khẩn cấp" in page and "Báo cáo nhanh" in page

    await office.post(f"/cabinet/meetings/{mid}/take-back", {"papers": paper["id"]})
    await member.get(f"/cabinet/meetings/{mid}/papers/{paper['id']}", expect=410)
    await office.get(f"/cabinet/meetings/{mid}")
    await office.post(f"/cabinet/meetings/{mid}/close", {})
    meeting = await cabinet.call("GET", f"/v1/meetings/{mid}", "thuky", 200)
    assert meeting["state"] == "closed"
    page = await office.get(f"/cabinet/meetings/{mid}")
    assert "Đã kết thúc / Closed" in page and "Gửi bộ tài liệu" not in page


async def _next_event(stream: aiohttp.ClientResponse, kind: str, timeout: float = 15) -> str:
    async def read() -> str:
        event, data = "", []
        while True:
            line = (await stream.content.readline()).decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line == "":
                if event == kind:
                    return html.unescape("\n".join(data))
                event, data = "", []

    return await asyncio.wait_for(read(), timeout)


async def test_the_agenda_updates_live_when_a_new_version_is_sent_or_a_paper_taken_back(
    cabinet: Cabinet, browsers: Any
) -> None:
    m = await _sent_meeting(cabinet)
    member = await browsers("botaichinh")
    stream = await member.http.get(f"{member.base}/cabinet/meetings/{m['id']}/events")
    assert stream.status == 200 and stream.headers["Content-Type"].startswith("text/event-stream")
    first = await _next_event(stream, "timeline")
    assert "Phụ lục mật" in first and "Mới / New version" not in first

    sha = (await cabinet.call("POST", "/v1/cabinet/files", "thuky", 201, data=b"%PDF-1.7 v2 mat" * 90))["sha256"]  # fmt: skip
    await cabinet.call(
        "POST", f"/v1/meetings/{m['id']}/papers/{m['secret']}/versions", "thuky", 201,
        json={"file_sha256": sha, "name": "phu-luc-v2.pdf"},
    )  # fmt: skip
    await cabinet.call("POST", f"/v1/meetings/{m['id']}/packets", "thuky", 201, json={})
    updated = await _next_event(stream, "timeline")
    assert "Mới / New version" in updated and "phu-luc-v2.pdf" in updated

    await cabinet.call(
        "POST", f"/v1/meetings/{m['id']}/take-back", "thuky", 200, json={"papers": [m["secret"]]}
    )
    taken = await _next_event(stream, "timeline")
    assert "Đã thu hồi / Taken back" in taken
    stream.close()

    # A member not invited gets no stream of it.
    await cabinet.person("bongoaigiao", "member", title="Bộ trưởng Bộ Ngoại giao")
    outsider = await browsers("bongoaigiao")
    await outsider.get(f"/cabinet/meetings/{m['id']}/events", expect=404)
