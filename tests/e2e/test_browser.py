"""The clerks' pages in a real browser: Debian's headless Chromium driven by playwright.

Log in, find a letter, watch a receipt arrive while the page stays open, recall a letter. The
tests save screenshots of the main pages under tests/artifacts/ (gitignored) for people to look at.
Without chromium they fail under CI=true (the set-up installs it: scripts/ensure-browser) and
skip with the reason elsewhere.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from axis.core import users

# The hub's fixtures (a database of the test's own, a development CA, agencies, a running axis).
from tests.axis.conftest import (  # noqa: F401
    client_for,
    db,
    dev_ca,
    hub_config,
    trust_dir,
    world,
)
from tests.support.waiting import wait_for
from tests.support.world import World, WorldAgency, letter_package

CHROMIUM = os.environ.get("AXIS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PASSWORD = "mật-khẩu-đủ-dài-1"
WAIT_MS = 20_000


def _browser_problem() -> str | None:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing: .venv/bin/pip install -e '.[dev]'"
    if not os.access(CHROMIUM, os.X_OK):
        return (
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; "
            "`make test` does it as root through scripts/ensure-browser). "
            "`playwright install` cannot download a browser here."
        )
    return None


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    problem = _browser_problem()
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests cannot run: {problem}", pytrace=False)
        pytest.skip(f"browser tests need chromium: {problem}")
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        launched = await driver.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser) -> AsyncIterator[Any]:
    context = await browser.new_context(
        viewport={"width": 1360, "height": 900}, locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh"
    )
    opened = await context.new_page()
    opened.set_default_timeout(WAIT_MS)
    problems: list[str] = []
    # Script errors and refusals (a CSP violation, say); an answer of 401 to a wrong password is not one.
    opened.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    opened.on(
        "response",
        lambda r: (
            problems.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/login")
            else None
        ),
    )
    opened.on("pageerror", lambda e: problems.append(str(e)))
    opened.problems = problems
    try:
        yield opened
    finally:
        await context.close()


async def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000, f"{path} looks empty"
    return path


async def _send(client, sender: WorldAgency, letter: bytes) -> str:
    resp = await client.post("/v1/documents", data=letter, headers=sender.auth)
    assert resp.status == 202, await resp.text()
    return str((await resp.json())["document_id"])


async def _status(client, agency: WorldAgency, doc: str, package: bytes) -> None:
    resp = await client.post(f"/v1/documents/{doc}/status", data=package, headers=agency.auth)
    assert resp.status == 202, await resp.text()


@pytest.fixture
async def office(client_for, hub_config, db: asyncpg.Connection, world: World):  # noqa: F811
    """Three agencies with a clerk each, and a few letters in various states."""
    g22 = await world.register(db, "000.00.00.G22", "Văn phòng Chính phủ")
    h41 = await world.register(db, "000.00.00.H41", "UBND tỉnh Nghệ An")
    h29 = await world.register(db, "000.00.00.H29", "UBND Thành phố Hồ Chí Minh")
    await users.add(
        db,
        organ_id=g22.organ_id,
        login="vanthu.vpcp",
        password=PASSWORD,
        role="clerk",
        full_name="Trần Thị Bình",
    )
    await users.add(
        db,
        organ_id=h41.organ_id,
        login="vanthu.nghean",
        password=PASSWORD,
        role="clerk",
        full_name="Lê Văn Cường",
    )
    # H29 still runs an old system that cannot sign (its tokens are cached once the hub runs).
    await db.execute(
        "UPDATE agencies SET signature_policy = 'legacy' WHERE organ_id = $1", h29.organ_id
    )
    client = await client_for(hub_config)
    letters: dict[str, tuple[str, bytes]] = {}

    async def send(key: str, sender: WorldAgency, to: list[WorldAgency], **kw: Any) -> str:
        data = world.letter(sender, to, **kw)
        letters[key] = (await _send(client, sender, data), data)
        return letters[key][0]

    await send(
        "meeting",
        g22,
        [h41, h29],
        number="4120",
        subject="Về việc chuẩn bị phiên họp Chính phủ thường kỳ tháng 11",
        attachments=[("Chương trình phiên họp.pdf", b"%PDF-1.4 chuong trinh\n" * 200)],
    )
    storm = await send("storm", g22, [h41, h29], number="4121", subject="Về việc ứng phó bão số 9")
    for code in ("03", "04", "05"):
        await _status(client, h41, storm, world.status(h41, letters["storm"][1], code))
    await _status(
        client,
        h29,
        storm,
        world.status(h29, letters["storm"][1], "02", description="Không thuộc thẩm quyền"),
    )
    late = await send("late", g22, [h41], number="4098", subject="Về báo cáo quý III (quá hạn)")
    await db.execute("UPDATE documents SET due_date = '2026-10-01' WHERE id = $1::uuid", late)
    await send("answer", h41, [g22], number="215", subject="Báo cáo kết quả phòng chống dịch")
    from edoc import build

    unsigned = build(
        letter_package(
            h29.organ_id,
            [g22.organ_id],
            number="88",
            subject="Công văn gửi từ hệ thống cũ (chưa ký số)",
            sender_name="UBND Thành phố Hồ Chí Minh",
        )
    )
    letters["legacy"] = (await _send(client, h29, unsigned), unsigned)
    return {"client": client, "world": world, "h41": h41, "letters": letters}


async def _log_in(page: Any, base: str, login: str) -> None:
    await page.goto(base + "login")
    await page.get_by_label("Tên đăng nhập").fill(login)
    await page.get_by_label("Mật khẩu").fill(PASSWORD)
    await page.get_by_role("button", name="Đăng nhập / Log in").click()
    await page.wait_for_url("**/letters/received")


def _base(client) -> str:
    return str(client.make_url("/"))


async def test_clerk_logs_in_finds_a_letter_and_opens_it(page, office) -> None:
    base = _base(office["client"])
    await page.goto(base)
    await page.wait_for_url("**/login")
    await page.get_by_label("Tên đăng nhập").fill("vanthu.vpcp")
    await page.get_by_label("Mật khẩu").fill("sai mật khẩu")
    await page.get_by_role("button", name="Đăng nhập / Log in").click()
    await page.get_by_test_id("login-error").wait_for()
    await shot(page, "01-login-refused")
    await _log_in(page, base, "vanthu.vpcp")
    assert await page.get_by_test_id("who").inner_text() == "Trần Thị Bình"
    legacy = page.locator("tr", has_text="hệ thống cũ").get_by_test_id("legacy")
    assert await legacy.inner_text() == "Chưa ký số (legacy) / Unsigned (legacy)"
    await shot(page, "02-received-letters")

    await page.get_by_role("link", name="Văn bản đi").click()
    await page.wait_for_url("**/letters/sent")
    assert await page.locator("tbody tr").count() == 3
    assert await page.locator("tr.overdue", has_text="quá hạn").count() == 1
    await shot(page, "03-sent-letters")

    await page.get_by_label("Trích yếu").fill("phiên họp")
    await page.get_by_role("button", name="Tìm / Search").click()
    await page.wait_for_url("**subject=*")
    rows = page.locator("tbody tr")
    assert await rows.count() == 1
    await shot(page, "04-search")
    await rows.get_by_role("link", name="Về việc chuẩn bị phiên họp").click()
    await page.wait_for_url("**/letters/*-*")
    assert "4120/VPCP-TTĐT" in await page.get_by_test_id("code").inner_text()
    attachment = page.get_by_test_id("attachment")
    assert await attachment.inner_text() == "Chương trình phiên họp.pdf"
    async with page.expect_download() as download_info:
        await attachment.click()
    download = await download_info.value
    assert download.suggested_filename == "Chương trình phiên họp.pdf"
    assert Path(await download.path()).read_bytes() == b"%PDF-1.4 chuong trinh\n" * 200

    # The storm letter: H41 in progress, H29 refused in red.
    await page.goto(base + "letters/" + office["letters"]["storm"][0])
    refused = page.get_by_test_id("chip-02")
    assert await refused.inner_text() == "02 từ chối / refused"
    # Read again until the chip is on screen: a live update may be redrawing the timeline, and a
    # chip taken out of the page has no computed style ('').
    colour = await wait_for(
        lambda: refused.evaluate("e => getComputedStyle(e).backgroundColor"), timeout=5
    )
    assert colour == "rgb(220, 38, 38)"
    await shot(page, "05-letter-timeline")
    assert page.problems == []


async def test_a_receipt_appears_live_while_the_page_stays_open(page, office) -> None:
    client, h41 = office["client"], office["h41"]
    doc, letter = office["letters"]["meeting"]
    base = _base(client)
    await _log_in(page, base, "vanthu.vpcp")
    await page.goto(f"{base}letters/{doc}")
    await page.locator("[data-testid=live-state][data-state=open]").wait_for()
    await page.evaluate("window.__stillTheSamePage = true")
    line = page.locator('[data-recipient="000.00.00.H41"]')
    assert await line.get_by_test_id("chip-03").count() == 0

    # Another agency reports through the API while the clerk watches.
    await _status(client, h41, doc, office["world"].status(h41, letter, "03"))
    await line.get_by_test_id("chip-03").wait_for()
    assert await line.get_by_test_id("chip-03").inner_text() == "03 đã tiếp nhận / accepted"
    await _status(client, h41, doc, office["world"].status(h41, letter, "06"))
    await line.get_by_test_id("chip-06").wait_for()
    assert await page.evaluate("window.__stillTheSamePage === true"), "the page was reloaded"
    await shot(page, "06-letter-live-receipt")
    assert page.problems == []


async def test_clerk_recalls_a_letter(page, office, db) -> None:  # noqa: F811
    doc, _ = office["letters"]["meeting"]
    base = _base(office["client"])
    await _log_in(page, base, "vanthu.vpcp")
    await page.goto(f"{base}letters/{doc}")
    await page.locator("[data-testid=live-state][data-state=open]").wait_for()
    await page.get_by_label("Lý do thu hồi").fill("Ban hành nhầm đối tượng")
    await shot(page, "07-letter-before-recall")
    confirmed: list[str] = []

    async def accept(dialog: Any) -> None:
        confirmed.append(dialog.message)
        await dialog.accept()

    page.on("dialog", lambda d: asyncio.ensure_future(accept(d)))
    await page.get_by_role("button", name="Thu hồi văn bản / Recall the letter").click()
    await page.wait_for_url("**?done=recall")
    assert confirmed and "Recall this letter?" in confirmed[0]
    await page.get_by_test_id("recall-banner").wait_for()
    assert await page.get_by_test_id("chip-13").count() == 2  # one line per recipient
    assert await page.get_by_role("button", name="Thu hồi văn bản / Recall the letter").count() == 0
    await shot(page, "08-letter-recalled")
    row = await db.fetchrow(
        "SELECT signature, summary->>'staff' AS staff FROM documents WHERE status_code = '13'"
    )
    assert row["signature"] == "axis" and row["staff"] == "vanthu.vpcp"

    # The recipient's clerk sees the recall on the same letter.
    await page.get_by_role("button", name="Đăng xuất / Log out").click()
    await page.wait_for_url("**/login?done=logout")
    await _log_in(page, base, "vanthu.nghean")
    await page.goto(f"{base}letters/{doc}")
    await page.get_by_test_id("recall-banner").wait_for()
    await shot(page, "09-recipient-sees-recall")
    assert page.problems == []


async def test_an_open_letter_page_goes_to_the_login_form_when_the_clerk_is_disabled(
    page,
    office,
    db,  # noqa: F811
) -> None:
    doc, _ = office["letters"]["meeting"]
    base = _base(office["client"])
    await _log_in(page, base, "vanthu.vpcp")
    await page.goto(f"{base}letters/{doc}")
    await page.locator("[data-testid=live-state][data-state=open]").wait_for()
    # The administrator disables the account while the page stays open.
    await users.set_active(db, "vanthu.vpcp", False)
    # The login form, asked to come back to the letter (`/login?next=/letters/…`).
    await page.wait_for_url(lambda url: urlsplit(url).path == "/login", timeout=10_000)
    assert await page.get_by_label("Tên đăng nhập").count() == 1
    await shot(page, "10-disabled-clerk-sent-to-login")
