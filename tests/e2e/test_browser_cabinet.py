"""The cabinet's pages in a real browser (Debian's headless Chromium driven by playwright): the
secretariat makes a meeting, uploads a paper and sends the packet; a member reads it, sees a new
version arrive and a paper taken back while the page stays open, and names a stand-in. Screenshots
go under tests/artifacts/ (gitignored)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from edoc import VN_TZ
from tests.e2e.test_browser import WAIT_MS, browser, shot  # noqa: F401
from tests.meetings.conftest import (  # noqa: F401
    PASSWORD,
    Cabinet,
    cabinet,
    db,
    dev_ca,
    hub_config,
    trust_dir,
    world,
)


async def _open(browser: Any) -> Any:  # noqa: F811
    context = await browser.new_context(
        viewport={"width": 1360, "height": 900}, locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh"
    )
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("dialog", lambda d: d.accept())  # the take-back and close confirmations
    page.problems = problems
    return page


async def _log_in(page: Any, base: str, login: str) -> None:
    await page.goto(base + "login")
    await page.get_by_label("Tên đăng nhập").fill(login)
    await page.get_by_label("Mật khẩu").fill(PASSWORD)
    await page.get_by_role("button", name="Đăng nhập / Log in").click()
    await page.wait_for_url("**/cabinet")


@pytest.fixture
async def people(cabinet: Cabinet) -> Cabinet:  # noqa: F811
    await cabinet.person("thuky", "secretariat", full_name="Nguyễn Văn Thư")
    await cabinet.person("botaichinh", "member", title="Bộ trưởng Bộ Tài chính", full_name="Hồ Đức Phớc")  # fmt: skip
    await cabinet.person("boquocphong", "member", title="Bộ trưởng Bộ Quốc phòng", full_name="Phan Văn Giang")  # fmt: skip
    await cabinet.person("thutruong", "deputy", title="Thứ trưởng Bộ Tài chính", full_name="Lê Thị Thuỷ")  # fmt: skip
    return cabinet


async def test_the_secretariat_sends_a_packet_and_a_member_reads_it_live(
    browser: Any,  # noqa: F811
    people: Cabinet,
) -> None:
    base = str(people.client.make_url("/"))
    office = await _open(browser)
    await _log_in(office, base, "thuky")
    assert await office.get_by_test_id("who").inner_text() == "Nguyễn Văn Thư"

    starts = (datetime.now(UTC) + timedelta(days=10)).astimezone(VN_TZ).strftime("%Y-%m-%dT%H:%M")
    form = office.get_by_test_id("new-meeting")
    await form.get_by_label("Tên cuộc họp").fill("Phiên họp Chính phủ thường kỳ tháng 6")
    await form.get_by_label("Bắt đầu").fill(starts)
    await form.get_by_label("Địa điểm").fill("Trụ sở Chính phủ")
    await form.get_by_role("button", name="Tạo bản nháp / Create the draft").click()
    await office.wait_for_url(re.compile(r".*/cabinet/meetings/[0-9a-f-]+\?done=created"))
    meeting_url = office.url.split("?")[0]
    mid = meeting_url.rsplit("/", 1)[1]

    add = office.get_by_test_id("add-item")
    await add.get_by_label("Nội dung").fill("Dự thảo Nghị định về quản lý nợ công")
    await add.get_by_label("Cơ quan trình").fill("Bộ Tài chính")
    await add.get_by_role("button", name="Thêm / Add").click()
    await office.wait_for_url("**done=item")
    await office.get_by_text("Thêm tài liệu").click()
    paper_form = office.get_by_test_id("add-paper")
    await paper_form.get_by_label("Tên tài liệu").fill("Tờ trình Chính phủ")
    pdf = b"%PDF-1.4\n% to trinh\n" + b"0" * 4000 + b"\n%%EOF\n"
    await paper_form.get_by_label("Tệp").set_input_files(
        {"name": "to-trinh.pdf", "mimeType": "application/pdf", "buffer": pdf}
    )
    await paper_form.get_by_role("button", name="Tải lên / Upload").click()
    await office.wait_for_url("**done=paper")
    await office.get_by_test_id("send").get_by_role("button", name="Gửi / Send").click()
    await office.wait_for_url("**done=sent")
    assert "Đã gửi tài liệu / Papers sent" in await office.get_by_test_id("state").inner_text()
    await shot(office, "cabinet-01-secretariat-sent")

    member = await _open(browser)
    await _log_in(member, base, "botaichinh")
    await member.get_by_role("link", name="Phiên họp Chính phủ thường kỳ tháng 6").click()
    await member.wait_for_url(meeting_url)
    await member.locator("[data-testid=live-state][data-state=open]").wait_for()
    link = member.get_by_role("link", name="Tờ trình Chính phủ")
    opened = await member.request.get(base.rstrip("/") + str(await link.get_attribute("href")))
    assert opened.status == 200 and opened.headers["content-type"] == "application/pdf"
    assert opened.headers["content-disposition"].startswith("inline")
    assert await opened.body() == pdf
    await shot(member, "cabinet-02-member-meeting")

    # A new version sent while the page is open shows up marked, without reloading.
    meeting = await people.call("GET", f"/v1/meetings/{mid}", "thuky", 200)
    paper_id = meeting["items"][0]["papers"][0]["id"]
    sha = (await people.call("POST", "/v1/cabinet/files", "thuky", 201, data=pdf + b"% v2\n"))["sha256"]  # fmt: skip
    await people.call(
        "POST", f"/v1/meetings/{mid}/papers/{paper_id}/versions", "thuky", 201,
        json={"file_sha256": sha, "name": "to-trinh-v2.pdf"},
    )  # fmt: skip
    await people.call("POST", f"/v1/meetings/{mid}/packets", "thuky", 201, json={})
    await member.get_by_test_id("new-version").wait_for()
    assert "v2" in await member.get_by_test_id("paper").inner_text()
    await shot(member, "cabinet-03-member-new-version")

    # Absent, with a deputy standing in.
    attendance = member.get_by_test_id("attendance")
    await attendance.get_by_label("Tôi vắng mặt").check()
    await attendance.get_by_label("Lý do").fill("Công tác nước ngoài")
    await attendance.get_by_label("Người họp thay").select_option(label="Lê Thị Thuỷ · Thứ trưởng Bộ Tài chính")  # fmt: skip
    await attendance.get_by_role("button", name="Ghi nhận / Record").click()
    await member.wait_for_url("**done=attendance")
    assert await member.get_by_test_id("my-stand-in").inner_text() == "Lê Thị Thuỷ"

    # The secretariat sees who has not opened the new version, and takes the paper back.
    await office.goto(meeting_url)
    row = office.get_by_test_id("read-row")
    assert "Phan Văn Giang" in await row.get_by_test_id("not-opened").inner_text()
    await shot(office, "cabinet-04-secretariat-reads")
    await row.get_by_role("checkbox").check()
    await office.get_by_role("button", name="Thu hồi đã chọn / Take back the ticked papers").click()
    await office.wait_for_url("**done=taken_back")

    await member.get_by_test_id("taken-back").wait_for()  # live, on the member's open page
    assert await member.get_by_role("link", name="Tờ trình Chính phủ").count() == 0
    await shot(member, "cabinet-05-member-taken-back")

    await office.get_by_role("button", name="Kết thúc cuộc họp / Close the meeting").click()
    await office.wait_for_url("**done=closed")
    assert "Đã kết thúc / Closed" in await office.get_by_test_id("state").inner_text()
    assert office.problems == [] and member.problems == []
