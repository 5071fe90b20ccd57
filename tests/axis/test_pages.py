"""The clerks' pages over HTTP: logging in, CSRF, lock-out, who sees which letters, search,
downloads, recall and replace, and the live event stream of a letter."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import sys
import urllib.parse

import asyncpg
import pytest

import edoc
from axis.adapters.pages.render import vn_time
from axis.core import users
from tests.support.waiting import wait_for
from tests.support.world import World, WorldAgency, letter_package

PASSWORD = "mật-khẩu-đủ-dài-1"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
async def trio(db: asyncpg.Connection, world: World):
    g22 = await world.register(db, "000.00.00.G22", "Văn phòng Chính phủ")
    h41 = await world.register(db, "000.00.00.H41", "UBND tỉnh Nghệ An")
    h29 = await world.register(db, "000.00.00.H29", "UBND Thành phố Hồ Chí Minh")
    for agency, login in ((g22, "vanthu.vpcp"), (h41, "vanthu.nghean"), (h29, "vanthu.hcm")):
        await users.add(db, organ_id=agency.organ_id, login=login, password=PASSWORD, role="clerk")
    return g22, h41, h29


async def _send(client, sender: WorldAgency, letter: bytes) -> str:
    resp = await client.post("/v1/documents", data=letter, headers=sender.auth)
    assert resp.status == 202, await resp.text()
    return str((await resp.json())["document_id"])


async def _login(client, login: str, password: str = PASSWORD):
    page = await client.get("/login")
    token = CSRF.search(await page.text())
    assert token, "the login form carries a CSRF token"
    return await client.post(
        "/login",
        data={"csrf_token": token.group(1), "login": login, "password": password},
        allow_redirects=False,
    )


async def _logged_in(client, login: str) -> str:
    """Log in and return the session's CSRF token, as read from a page."""
    resp = await _login(client, login)
    assert resp.status == 303, await resp.text()
    page = await client.get("/letters/received")
    assert page.status == 200
    found = CSRF.search(await page.text())
    assert found
    return found.group(1)


async def _fresh_client(client_for, hub_config):
    """Another browser: the same hub, a cookie jar of its own."""
    return await client_for(hub_config)


# ---------------------------------------------------------------- logging in


async def test_a_visitor_without_a_session_is_sent_to_the_login_page(
    client_for, hub_config
) -> None:
    client = await client_for(hub_config)
    home = await client.get("/", allow_redirects=False)
    assert home.status == 303 and home.headers["Location"] == "/login"
    page = await client.get("/letters/sent?subject=abc", allow_redirects=False)
    assert page.status == 303
    target = urllib.parse.urlsplit(page.headers["Location"])
    assert target.path == "/login"
    assert urllib.parse.parse_qs(target.query)["next"] == ["/letters/sent?subject=abc"]
    login = await client.get("/login")
    text = await login.text()
    assert "Đăng nhập" in text and "Log in" in text


async def test_clerk_logs_in_with_a_session_cookie_that_scripts_cannot_read(
    client_for, hub_config, trio
) -> None:
    client = await client_for(hub_config)
    resp = await _login(client, "vanthu.nghean")
    assert resp.status == 303 and resp.headers["Location"] == "/letters/received"
    cookie = next(
        v for v in resp.headers.getall("Set-Cookie") if v.startswith("axis_session=")
    ).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # plain http here; over https the cookie is Secure
    page = await client.get("/letters/received")
    text = await page.text()
    assert "Văn bản đến" in text and "Received letters" in text
    assert "UBND tỉnh Nghệ An" in text  # whose clerk is logged in


async def test_session_cookie_is_secure_when_the_axis_is_reached_over_https(
    client_for, hub_config, trio
) -> None:
    import dataclasses

    client = await client_for(dataclasses.replace(hub_config, public_url="https://truc.gov.vn"))
    form = await client.get("/login")
    login_cookie = form.cookies["axis_login_csrf"]
    assert login_cookie["secure"]
    token = CSRF.search(await form.text())
    assert token
    # The client speaks plain http to the test server, so it would not send a Secure cookie back.
    resp = await client.post(
        "/login",
        data={"csrf_token": token.group(1), "login": "vanthu.nghean", "password": PASSWORD},
        headers={"Cookie": f"axis_login_csrf={login_cookie.value}"},
        allow_redirects=False,
    )
    assert resp.status == 303
    cookie = resp.cookies["axis_session"]
    assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Lax"


async def test_wrong_password_is_refused_without_saying_which_part_was_wrong(
    client_for, hub_config, trio
) -> None:
    client = await client_for(hub_config)
    wrong = await _login(client, "vanthu.nghean", "not the password")
    unknown = await _login(client, "nobody.here", "not the password")
    assert wrong.status == unknown.status == 401
    assert "Tên đăng nhập hoặc mật khẩu không đúng" in await wrong.text()
    assert (await client.get("/letters/received", allow_redirects=False)).status == 303


async def test_five_failures_lock_the_login_for_fifteen_minutes_even_with_the_right_password(
    client_for, hub_config, trio, db
) -> None:
    client = await client_for(hub_config)
    for _ in range(4):
        assert (await _login(client, "vanthu.nghean", "wrong password")).status == 401
    fifth = await _login(client, "vanthu.nghean", "wrong password")
    assert fifth.status == 429
    assert "tạm khoá" in await fifth.text()
    right = await _login(client, "vanthu.nghean")
    assert right.status == 429
    locked = await db.fetchrow("SELECT failures, locked_until - now() AS left FROM login_failures")
    assert locked["failures"] == 5
    assert dt.timedelta(minutes=14) < locked["left"] <= dt.timedelta(minutes=15)
    # When the lock has run out, the right password opens a session and the count starts over.
    await db.execute("UPDATE login_failures SET locked_until = now() - interval '1 second'")
    assert (await _login(client, "VANTHU.NGHEAN")).status == 303
    assert await db.fetchval("SELECT count(*) FROM login_failures") == 0


async def test_the_lock_out_holds_across_hub_processes(client_for, hub_config, trio) -> None:
    one = await client_for(hub_config)
    two = await client_for(hub_config)  # a second hub on the same database
    for client in (one, two, one, two):
        assert (await _login(client, "vanthu.hcm", "wrong password")).status == 401
    assert (await _login(two, "vanthu.hcm", "wrong password")).status == 429
    assert (await _login(one, "vanthu.hcm")).status == 429


async def test_logging_out_ends_the_session_on_the_server(client_for, hub_config, trio) -> None:
    client = await client_for(hub_config)
    token = await _logged_in(client, "vanthu.vpcp")
    stolen = client.session.cookie_jar.filter_cookies(client.make_url("/"))["axis_session"].value
    out = await client.post("/logout", data={"csrf_token": token}, allow_redirects=False)
    assert out.status == 303 and out.headers["Location"] == "/login?done=logout"
    replay = await client.get(
        "/letters/sent", headers={"Cookie": f"axis_session={stolen}"}, allow_redirects=False
    )
    assert replay.status == 303


# ---------------------------------------------------------------- CSRF


async def test_a_post_without_the_sessions_csrf_token_changes_nothing(
    client_for, hub_config, trio, world, db
) -> None:
    g22, h41, _ = trio
    client = await client_for(hub_config)
    doc = await _send(client, g22, world.letter(g22, [h41]))
    token = await _logged_in(client, "vanthu.vpcp")
    missing = await client.post(f"/letters/{doc}/recall", data={"reason": "x"})
    forged = await client.post(f"/letters/{doc}/recall", data={"csrf_token": "forged" + token})
    assert missing.status == forged.status == 403
    assert "Biểu mẫu đã hết hạn" in await missing.text()
    assert await db.fetchval("SELECT count(*) FROM documents WHERE status_code = '13'") == 0
    # Another clerk's valid token is not this session's.
    other = await _fresh_client(client_for, hub_config)
    other_token = await _logged_in(other, "vanthu.nghean")
    crossed = await client.post(f"/letters/{doc}/recall", data={"csrf_token": other_token})
    assert crossed.status == 403


async def test_the_login_form_is_protected_against_cross_site_posts_too(
    client_for, hub_config, trio
) -> None:
    client = await client_for(hub_config)
    resp = await client.post(
        "/login",
        data={"csrf_token": "made-up", "login": "vanthu.vpcp", "password": PASSWORD},
        allow_redirects=False,
    )
    assert resp.status == 403
    assert "axis_session" not in client.session.cookie_jar.filter_cookies(client.make_url("/"))


# ---------------------------------------------------------------- lists and search


async def test_a_clerk_sees_only_the_letters_of_their_own_agency(
    client_for, hub_config, trio, world
) -> None:
    g22, h41, _ = trio
    client = await client_for(hub_config)
    doc = await _send(
        client, g22, world.letter(g22, [h41], subject="Về việc chỉ Nghệ An được biết")
    )
    await _logged_in(client, "vanthu.hcm")
    received = await (await client.get("/letters/received")).text()
    assert "chỉ Nghệ An" not in received
    sent = await (await client.get("/letters/sent")).text()
    assert "chỉ Nghệ An" not in sent
    page = await client.get(f"/letters/{doc}")
    assert page.status == 404
    assert "Không tìm thấy" in await page.text()
    assert (await client.get(f"/letters/{doc}/attachments/1")).status == 404
    assert (await client.get(f"/letters/{doc}/edxml")).status == 404
    assert (await client.get(f"/letters/{doc}/events")).status == 404
    assert (await client.get("/letters/not-a-uuid")).status == 404

    other = await _fresh_client(client_for, hub_config)
    await _logged_in(other, "vanthu.nghean")
    assert "chỉ Nghệ An" in await (await other.get("/letters/received")).text()
    mine = await _fresh_client(client_for, hub_config)
    await _logged_in(mine, "vanthu.vpcp")
    assert "chỉ Nghệ An" in await (await mine.get("/letters/sent")).text()
    assert "chỉ Nghệ An" not in await (await mine.get("/letters/received")).text()


async def test_search_by_number_notation_subject_sender_and_date(
    client_for, hub_config, trio, world, db
) -> None:
    g22, h41, h29 = trio
    client = await client_for(hub_config)
    await _send(client, g22, world.letter(g22, [h41], number="101", subject="Về lịch họp quý IV"))
    await _send(client, g22, world.letter(g22, [h41], number="102", subject="Về phòng chống bão"))
    await _send(client, h29, world.letter(h29, [h41], number="7", subject="Báo cáo tình hình bão"))
    # One letter of an older date, so a range can leave it out.
    await db.execute(
        "UPDATE documents SET promulgation_date = '2026-01-05', code_notation = 'UBND-VX' WHERE code_number = '7'"
    )
    await _logged_in(client, "vanthu.nghean")

    async def found(**query: str) -> set[str]:
        text = await (await client.get("/letters/received", params=query)).text()
        return set(re.findall(r'class="subject">([^<]+)<', text))

    assert await found() == {"Về lịch họp quý IV", "Về phòng chống bão", "Báo cáo tình hình bão"}
    assert await found(number="102") == {"Về phòng chống bão"}
    assert await found(subject="bão") == {"Về phòng chống bão", "Báo cáo tình hình bão"}
    assert await found(notation="vpcp") == {"Về lịch họp quý IV", "Về phòng chống bão"}
    assert await found(party="Hồ Chí Minh") == {"Báo cáo tình hình bão"}
    assert await found(party="000.00.00.G22") == {"Về lịch họp quý IV", "Về phòng chống bão"}
    assert await found(**{"from": "2026-11-01", "to": "2026-11-30"}) == {
        "Về lịch họp quý IV",
        "Về phòng chống bão",
    }
    assert await found(to="2026-02-01") == {"Báo cáo tình hình bão"}
    assert await found(subject="100%_") == set()  # wildcards are taken literally
    bad = await client.get("/letters/received", params={"from": "30/11/2026"})
    assert bad.status == 200 and "không phải ngày" in await bad.text()

    sender = await _fresh_client(client_for, hub_config)
    await _logged_in(sender, "vanthu.vpcp")
    text = await (await sender.get("/letters/sent", params={"party": "Nghệ An"})).text()
    assert "Về lịch họp quý IV" in text and "Văn bản đi" in text and "Sent letters" in text


# ---------------------------------------------------------------- the letter page


async def test_letter_page_shows_each_recipients_timeline_in_vietnam_time(
    client_for, hub_config, trio, world
) -> None:
    g22, h41, h29 = trio
    client = await client_for(hub_config)
    letter = world.letter(g22, [h41, h29], number="55", subject="Về việc theo dõi xử lý")
    doc = await _send(client, g22, letter)
    for code in ("03", "04"):
        resp = await client.post(
            f"/v1/documents/{doc}/status", data=world.status(h41, letter, code), headers=h41.auth
        )
        assert resp.status == 202, await resp.text()
    resp = await client.post(
        f"/v1/documents/{doc}/status", data=world.status(h29, letter, "02"), headers=h29.auth
    )
    assert resp.status == 202
    await _logged_in(client, "vanthu.vpcp")
    text = await (await client.get(f"/letters/{doc}")).text()
    assert "55/VPCP-TTĐT" in text and "Về việc theo dõi xử lý" in text
    h41_line = text[text.index('data-recipient="000.00.00.H41"') :]
    h41_line = h41_line[: h41_line.index("</li>\n</ol>") if "</li>\n</ol>" in h41_line else None]
    assert 'class="chip s03"' in h41_line and "03 đã tiếp nhận / accepted" in h41_line
    assert "04 phân công / assigned" in h41_line
    assert 'class="chip s02" data-testid="chip-02">02 từ chối / refused' in text
    trace = await (await client.get(f"/v1/documents/{doc}/trace", headers=g22.auth)).json()
    received_at = trace["received_at"]
    assert vn_time(received_at) in text
    assert vn_time(received_at) == dt.datetime.fromisoformat(received_at).astimezone(
        dt.timezone(dt.timedelta(hours=7))
    ).strftime("%d/%m/%Y %H:%M:%S")
    # The recipient sees its own line only.
    other = await _fresh_client(client_for, hub_config)
    await _logged_in(other, "vanthu.hcm")
    theirs = await (await other.get(f"/letters/{doc}")).text()
    assert 'data-recipient="000.00.00.H29"' in theirs
    assert 'data-recipient="000.00.00.H41"' not in theirs
    assert "Thu hồi văn bản" not in theirs  # only the sender may recall


async def test_overdue_deliveries_are_shown_in_red(client_for, hub_config, trio, world, db) -> None:
    g22, h41, _ = trio
    client = await client_for(hub_config)
    doc = await _send(client, g22, world.letter(g22, [h41], subject="Về việc đã quá hạn"))
    await db.execute("UPDATE documents SET due_date = '2020-01-01' WHERE id = $1::uuid", doc)
    await _logged_in(client, "vanthu.vpcp")
    text = await (await client.get(f"/letters/{doc}")).text()
    assert 'class="recipient overdue"' in text and "Quá hạn / Overdue" in text
    listed = await (await client.get("/letters/sent")).text()
    assert 'class="overdue"' in listed


async def test_unsigned_legacy_letters_carry_a_visible_badge(
    client_for, hub_config, trio, world, db
) -> None:
    g22, h41, _ = trio
    await db.execute(
        "UPDATE agencies SET signature_policy = 'legacy' WHERE organ_id = $1", h41.organ_id
    )
    client = await client_for(hub_config)
    unsigned = edoc.build(
        letter_package(h41.organ_id, [g22.organ_id], subject="Công văn chưa ký số")
    )
    doc = await _send(client, h41, unsigned)
    await _logged_in(client, "vanthu.vpcp")
    listed = await (await client.get("/letters/received")).text()
    assert "Chưa ký số (legacy) / Unsigned (legacy)" in listed
    page = await (await client.get(f"/letters/{doc}")).text()
    assert "Chưa ký số (legacy) / Unsigned (legacy)" in page


async def test_attachments_download_with_their_names(client_for, hub_config, trio, world) -> None:
    g22, h41, _ = trio
    client = await client_for(hub_config)
    pdf = b"%PDF-1.4 bi\xc3\xaau b\xe1\xba\xa3n h\xe1\xbb\x8dp\n" * 50
    doc = await _send(
        client, g22, world.letter(g22, [h41], attachments=[("Biên bản họp.pdf", pdf)])
    )
    await _logged_in(client, "vanthu.nghean")
    page = await (await client.get(f"/letters/{doc}")).text()
    assert f'href="/letters/{doc}/attachments/1"' in page and "Biên bản họp.pdf" in page
    resp = await client.get(f"/letters/{doc}/attachments/1")
    assert resp.status == 200
    assert await resp.read() == pdf
    assert resp.headers["Content-Disposition"] == (
        "attachment; filename*=UTF-8''Bi%C3%AAn%20b%E1%BA%A3n%20h%E1%BB%8Dp.pdf"
    )
    signed = await client.get(f"/letters/{doc}/edxml")
    assert signed.status == 200 and b"edXMLEnvelope" in await signed.read()
    assert (await client.get(f"/letters/{doc}/attachments/9")).status == 404


# ---------------------------------------------------------------- recall and replace


async def test_recall_through_the_page_sends_a_sealed_13_naming_the_clerk_in_the_audit(
    client_for, hub_config, trio, world, db
) -> None:
    g22, h41, h29 = trio
    client = await client_for(hub_config)
    doc = await _send(client, g22, world.letter(g22, [h41, h29], subject="Gửi nhầm"))
    token = await _logged_in(client, "vanthu.vpcp")
    page = await (await client.get(f"/letters/{doc}")).text()
    assert "Thu hồi văn bản / Recall the letter" in page
    resp = await client.post(
        f"/letters/{doc}/recall",
        data={"csrf_token": token, "reason": "Ban hành nhầm"},
        allow_redirects=False,
    )
    assert resp.status == 303 and resp.headers["Location"] == f"/letters/{doc}?done=recall"
    after = await (await client.get(resp.headers["Location"])).text()
    assert "Đã đề nghị lấy lại văn bản (13)" in after
    assert 'data-testid="chip-13"' in after and "sealed by the axis" in after
    assert "Thu hồi văn bản / Recall the letter" not in after

    status = await db.fetchrow("SELECT * FROM documents WHERE kind = 'status'")
    assert status["status_code"] == "13" and status["signature"] == "axis"
    assert status["sender"] == g22.organ_id
    audit = await db.fetchrow(
        "SELECT organ_id, details FROM audit_events WHERE event = 'status' AND document_id = $1::uuid",
        doc,
    )
    details = json.loads(audit["details"])
    assert details["clerk"] == "vanthu.vpcp" and details["by"] == "clerk"
    assert details["status_code"] == "13" and audit["organ_id"] == g22.organ_id

    # Every recipient gets the sealed status 13 in its inbox, signed by the axis.
    async def thirteen_at(agency: WorldAgency):
        items = (await (await client.get("/v1/inbox", headers=agency.auth)).json())["items"]
        return [i for i in items if i["status_code"] == "13"]

    for agency in (h41, h29):
        (item,) = await wait_for(lambda a=agency: thirteen_at(a))
        data = await (
            await client.get(
                f"/v1/documents/{item['document_id']}",
                headers=h41.auth if agency is h41 else h29.auth,
            )
        ).read()
        package = edoc.parse(data)
        assert isinstance(package.header, edoc.StatusMessage)
        assert package.header.status_code is edoc.StatusCode.RECALL_ASKED
        assert package.header.staff_info and package.header.staff_info.staff == "vanthu.vpcp"
    # A recipient may now agree (15), which the page shows.
    letter_bytes = await (await client.get(f"/v1/documents/{doc}", headers=h41.auth)).read()
    agreed = await client.post(
        f"/v1/documents/{doc}/status", data=world.status(h41, letter_bytes, "15"), headers=h41.auth
    )
    assert agreed.status == 202, await agreed.text()
    assert "đồng ý / agreed: 000.00.00.H41" in await (await client.get(f"/letters/{doc}")).text()

    again = await client.post(f"/letters/{doc}/recall", data={"csrf_token": token})
    assert again.status == 409
    assert await db.fetchval("SELECT count(*) FROM documents WHERE status_code = '13'") == 1


async def test_a_recipients_clerk_cannot_recall_a_letter(
    client_for, hub_config, trio, world, db
) -> None:
    g22, h41, _ = trio
    client = await client_for(hub_config)
    doc = await _send(client, g22, world.letter(g22, [h41]))
    token = await _logged_in(client, "vanthu.nghean")
    resp = await client.post(f"/letters/{doc}/recall", data={"csrf_token": token})
    assert resp.status == 403
    assert await db.fetchval("SELECT count(*) FROM documents WHERE kind = 'status'") == 0


async def test_replace_uploads_a_signed_replacement_naming_the_letter(
    client_for, hub_config, trio, world, db
) -> None:
    import aiohttp

    g22, h41, _ = trio
    client = await client_for(hub_config)
    original = world.letter(g22, [h41], subject="Bản có sai sót")
    doc = await _send(client, g22, original)
    original_id = edoc.parse(original).header.document_id  # type: ignore[union-attr]
    token = await _logged_in(client, "vanthu.vpcp")

    def upload(data: bytes) -> aiohttp.FormData:
        form = aiohttp.FormData()
        form.add_field("csrf_token", token)
        form.add_field("package", data, filename="thay-the.xml", content_type="application/xml")
        return form

    # A new letter (type 0) is not a replacement.
    wrong = await client.post(
        f"/letters/{doc}/replace", data=upload(world.letter(g22, [h41])), allow_redirects=False
    )
    assert wrong.status == 400 and "BussinessDocType" in await wrong.text()

    package = letter_package(g22.organ_id, [h41.organ_id], subject="Bản đã sửa")
    package = _as_replacement(package, original_id, [h41.organ_id])
    replacement = world.signed(g22, package)
    resp = await client.post(
        f"/letters/{doc}/replace", data=upload(replacement), allow_redirects=False
    )
    assert resp.status == 303, await resp.text()
    new_id = resp.headers["Location"].split("/")[2].split("?")[0]
    page = await (await client.get(resp.headers["Location"])).text()
    assert "Bản đã sửa" in page and "Văn bản thay thế đã được trục tiếp nhận" in page
    old_page = await (await client.get(f"/letters/{doc}")).text()
    assert f'href="/letters/{new_id}"' in old_page and "Replaced by" in old_page
    audit = await db.fetchval(
        "SELECT details FROM audit_events WHERE event = 'replacement_uploaded'"
    )
    assert json.loads(audit)["clerk"] == "vanthu.vpcp"


def _as_replacement(package: edoc.Package, replaced: str, organs: list[str]) -> edoc.Package:
    import dataclasses

    assert package.trace and package.trace.bussiness
    bussiness = dataclasses.replace(
        package.trace.bussiness,
        bussiness_doc_type=edoc.BussinessDocType.REPLACE,
        replacement_info_list=[edoc.ReplacementInfo(document_id=replaced, organ_ids=organs)],
    )
    trace = dataclasses.replace(package.trace, bussiness=bussiness)
    return dataclasses.replace(package, trace=trace)


# ---------------------------------------------------------------- live updates


async def test_the_event_stream_sends_the_timeline_again_when_a_status_arrives(
    client_for, hub_config, trio, world
) -> None:
    g22, h41, _ = trio
    client = await client_for(hub_config)
    letter = world.letter(g22, [h41])
    doc = await _send(client, g22, letter)
    await _logged_in(client, "vanthu.vpcp")
    stream = await client.get(f"/letters/{doc}/events")
    assert stream.status == 200
    assert stream.headers["Content-Type"].startswith("text/event-stream")

    async def next_event() -> str:
        lines: list[str] = []
        while True:
            raw = await asyncio.wait_for(stream.content.readline(), 20)
            line = raw.decode().rstrip("\n")
            if line == "" and any(x.startswith("event: timeline") for x in lines):
                return "\n".join(x[6:] for x in lines if x.startswith("data: "))
            if line == "":
                lines = []
            else:
                lines.append(line)

    first = await next_event()
    assert 'data-recipient="000.00.00.H41"' in first and "chip-03" not in first
    other = await _fresh_client(client_for, hub_config)
    resp = await other.post(
        f"/v1/documents/{doc}/status", data=world.status(h41, letter, "03"), headers=h41.auth
    )
    assert resp.status == 202
    second = await next_event()
    while "chip-03" not in second:  # a delivery may change first (it became available)
        second = await next_event()
    assert "03 đã tiếp nhận / accepted" in second
    stream.close()


# ---------------------------------------------------------------- the command


async def _axis(*args: str, stdin: bytes, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "axis.cli",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
    )
    out, err = await proc.communicate(stdin)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_axis_user_add_reads_the_password_from_stdin_and_the_user_can_log_in(
    client_for, hub_config, test_database_url, db, world
) -> None:
    await world.register(db, "000.00.00.G22", "Văn phòng Chính phủ")
    env = {"AXIS_DATABASE_URL": test_database_url}
    args = ["user", "add", "--agency", "000.00.00.G22", "--login", "quantri.vpcp"]
    code, out, err = await _axis(
        *args, "--role", "admin", "--password-stdin", "--json", stdin=b"mot-mat-khau-dai\n", env=env
    )
    assert code == 0, err
    shown = json.loads(out)
    assert shown["role"] == "admin" and shown["organ_id"] == "000.00.00.G22"
    stored = await db.fetchval("SELECT password_hash FROM users WHERE login = 'quantri.vpcp'")
    assert stored.startswith("$argon2id$") and "mot-mat-khau-dai" not in stored
    client = await client_for(hub_config)
    assert (await _login(client, "quantri.vpcp", "mot-mat-khau-dai")).status == 303

    code, _, err = await _axis(*args, "--password-stdin", stdin=b"another-long-pass\n", env=env)
    assert code == 1 and "taken" in err
    code, _, err = await _axis(
        "user",
        "add",
        "--agency",
        "000.00.00.Z99",
        "--login",
        "ai.do",
        "--password-stdin",
        stdin=b"another-long-pass\n",
        env=env,
    )
    assert code == 1 and "no agency" in err
    code, _, err = await _axis(
        "user",
        "add",
        "--agency",
        "000.00.00.G22",
        "--login",
        "ngan",
        "--password-stdin",
        stdin=b"short\n",
        env=env,
    )
    assert code == 1 and "at least" in err


# ---------------------------------------------------------------- streams end with the session


async def _open_stream(client, doc: str, cookie: str | None = None):
    headers = {"Cookie": f"axis_session={cookie}"} if cookie else None
    stream = await client.get(f"/letters/{doc}/events", headers=headers, allow_redirects=False)
    assert stream.status == 200, await stream.text()
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    return stream


async def _events_until_the_end(stream, within: float) -> list[str]:
    """The names of the events the stream sends until it closes; fails if it is still open after
    `within` seconds (shorter than the heartbeat, so only the notice can explain the end)."""
    names: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        left = deadline - loop.time()
        assert left > 0, f"the stream is still open after {within} s (events: {names})"
        try:
            raw = await asyncio.wait_for(stream.content.readline(), left)
        except TimeoutError:
            raise AssertionError(
                f"the stream is still open after {within} s (events: {names})"
            ) from None
        if raw == b"":
            return names
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            names.append(line[7:])


def _session_cookie(client) -> str:
    return str(client.session.cookie_jar.filter_cookies(client.make_url("/"))["axis_session"].value)


async def _refused(client, doc: str, cookie: str) -> None:
    again = await client.get(
        f"/letters/{doc}/events",
        headers={"Cookie": f"axis_session={cookie}"},
        allow_redirects=False,
    )
    assert again.status == 303 and again.headers["Location"].startswith("/login"), again.status
    assert not again.headers.get("Content-Type", "").startswith("text/event-stream")


async def test_logging_out_ends_the_clerks_open_event_streams_on_every_hub(
    client_for, hub_config, trio, world, db
) -> None:
    g22, h41, _ = trio
    one = await client_for(hub_config)
    two = await client_for(hub_config)  # a second hub process on the same database
    doc = await _send(one, g22, world.letter(g22, [h41]))
    csrf = await _logged_in(one, "vanthu.vpcp")
    cookie = _session_cookie(one)
    here = await _open_stream(one, doc)
    there = await _open_stream(two, doc, cookie)
    # A colleague's stream on the same letter, with a session of its own, stays open.
    await users.add(
        db, organ_id=g22.organ_id, login="chanhvp.vpcp", password=PASSWORD, role="clerk"
    )
    colleague = await _fresh_client(client_for, hub_config)
    await _logged_in(colleague, "chanhvp.vpcp")
    theirs = await _open_stream(colleague, doc)

    out = await one.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert out.status == 303
    ended_here, ended_there = await asyncio.gather(
        _events_until_the_end(here, 5), _events_until_the_end(there, 5)
    )
    assert ended_here[-1] == ended_there[-1] == "ended"
    await _refused(one, doc, cookie)
    await _refused(two, doc, cookie)
    with pytest.raises(AssertionError, match="still open"):
        await _events_until_the_end(theirs, 1)
    theirs.close()


@pytest.mark.parametrize(
    "command",
    [
        ["user", "disable", "--login", "vanthu.nghean"],
        ["agency", "disable", "000.00.00.H41"],
    ],
    ids=["user-disabled", "agency-disabled"],
)
async def test_disabling_the_clerk_or_their_agency_from_the_cli_ends_their_streams_at_once(
    client_for, hub_config, trio, world, test_database_url, command
) -> None:
    g22, h41, _ = trio
    client = await client_for(hub_config)
    doc = await _send(client, g22, world.letter(g22, [h41]))
    await _logged_in(client, "vanthu.nghean")
    cookie = _session_cookie(client)
    stream = await _open_stream(client, doc)
    assert (await asyncio.wait_for(stream.content.readline(), 5)).startswith(b"retry:")
    # The real command, in a process of its own, writing PostgreSQL directly.
    code, _, err = await _axis(*command, stdin=b"", env={"AXIS_DATABASE_URL": test_database_url})
    assert code == 0, err
    assert (await _events_until_the_end(stream, 5))[-1] == "ended"
    await _refused(client, doc, cookie)
