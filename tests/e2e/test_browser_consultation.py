"""A written consultation in a real browser (headless Chromium): a member reads the form, signs
the payload the page shows with their own key and uploads it, and sees the receipt; the
secretariat sees who answered, closes early, sees the result and sends the result letter; the
member then sees the result and the report. Screenshots go under tests/artifacts/."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from axis.config import Config
from tests.e2e.test_browser import browser, shot  # noqa: F401
from tests.e2e.test_browser_cabinet import _log_in, _open
from tests.meetings.conftest import (  # noqa: F401
    GOV_OFFICE,
    Cabinet,
    cabinet,
    db,
    dev_ca,
    trust_dir,
    world,
)
from tests.meetings.consulting import MINISTRY, Government, government, opened
from tests.support.services import unique_name
from tests.support.world import World


@pytest.fixture
def hub_config(
    test_database_url: str,
    amqp_url: str,
    trust_dir: Path,  # noqa: F811
    tmp_path: Path,
    world: World,  # noqa: F811
    db: Any,  # noqa: F811
) -> Config:
    issued = world.agencies[GOV_OFFICE].issued
    assert issued is not None
    return Config.from_env(
        {
            "AXIS_DATABASE_URL": test_database_url,
            "AXIS_AMQP_URL": amqp_url,
            "AXIS_BLOB_URL": (tmp_path / "blobs").as_uri(),
            "AXIS_LISTEN": "127.0.0.1:0",
            "AXIS_LOG_FORMAT": "text",
            "AXIS_QUEUE_PREFIX": unique_name("t"),
            "AXIS_TRUST_DIR": str(trust_dir),
            "AXIS_SEAL_DIR": str(tmp_path / "seal"),
            "AXIS_CABINET_ORGAN": GOV_OFFICE,
            "AXIS_CABINET_SIGNER_DIR": str(issued.key_path.parent),
        }
    )


async def test_a_member_signs_and_uploads_a_ballot_and_the_secretariat_sends_the_result(
    browser: Any,  # noqa: F811
    cabinet: Cabinet,  # noqa: F811
    world: World,  # noqa: F811
    tmp_path: Path,
) -> None:
    await world.register(cabinet.db, MINISTRY, "Bộ Tài chính")
    gov: Government = await government(cabinet, world.ca, members=3)
    ids = cabinet.ids
    c = await opened(cabinet, members=[ids["thutuong"], ids["botruong1"]])
    base = str(cabinet.client.make_url("/"))

    member = await _open(browser)
    await _log_in(member, base, "botruong1")
    await member.get_by_role("link", name=c["title"]).click()
    await member.wait_for_url(f"**/cabinet/consultations/{c['id']}")
    assert "còn" in await member.get_by_test_id("countdown").inner_text()
    payload = json.loads(await member.get_by_test_id("to-sign").inner_text())
    assert payload["form_sha256"] == c["form_sha256"] and payload["member"] == ids["botruong1"]
    payload["answers"][1] = {"question": 2, "choice": "disagree", "comment": "Đề nghị lùi hiệu lực"}
    payload["signed_at"] = datetime.now(UTC).isoformat()
    signed = gov.sign("botruong1", payload)
    await shot(member, "consultation-01-member-form")
    await member.get_by_label("Phiếu đã ký").set_input_files(
        {"name": "signed.json", "mimeType": "application/json",
         "buffer": json.dumps(signed, ensure_ascii=False).encode()}
    )  # fmt: skip
    await member.get_by_role("button", name="Gửi phiếu / Send the ballot").click()
    await member.wait_for_url("**done=ballot")
    assert await member.get_by_test_id("receipt").count() == 1
    await shot(member, "consultation-02-member-receipt")

    await gov.vote(c, "thutuong", ["agree", "agree"])
    office = await _open(browser)
    await _log_in(office, base, "thuky")
    await office.goto(f"{base}cabinet/consultations/{c['id']}")
    assert await office.locator("[data-testid=asked][data-answered=yes]").count() == 2
    await office.get_by_role("button", name="Kết thúc sớm / Close early").click()
    await office.wait_for_url("**done=consultation_closed")
    outcomes = office.get_by_test_id("outcome")
    assert await outcomes.nth(0).get_attribute("data-outcome") == "passed"
    await office.get_by_role("button", name="Gửi văn bản kết quả", exact=False).click()
    await office.wait_for_url("**done=result_sent")
    assert await office.get_by_test_id("result-sent").count() == 1
    await shot(office, "consultation-03-secretariat-result")

    await member.goto(f"{base}cabinet/consultations/{c['id']}")
    assert await member.get_by_test_id("state").get_attribute("data-state") == "closed"
    await member.get_by_test_id("report").click()
    await member.wait_for_url("**/report")
    assert "Kết quả lấy ý kiến" in await member.content()
    assert not member.problems and not office.problems, member.problems + office.problems
