"""meetings/ joins the hub as a plug-in; cabinet people are made by the CLI and sign in by the API."""

from __future__ import annotations

import json
import re
from pathlib import Path

import asyncpg

from axis import plugins
from storage import migrations
from tests.meetings.conftest import GOV_OFFICE, PASSWORD, Cabinet, axis

AXIS_DIR = Path(__file__).resolve().parents[2] / "axis"


def test_the_axis_never_imports_meetings_by_name() -> None:
    offenders = [
        str(path.relative_to(AXIS_DIR.parent))
        for path in AXIS_DIR.rglob("*.py")
        if re.search(r"^\s*(from|import)\s+meetings\b", path.read_text(), re.MULTILINE)
    ]
    assert offenders == []


def test_meetings_is_found_as_a_plugin_with_migrations_numbered_apart_from_the_axis() -> None:
    found = {p.name: p for p in plugins.load()}
    assert "meetings" in found
    ours = migrations.discover(found["meetings"].migrations)  # type: ignore[arg-type]
    axis_own = migrations.discover(migrations.MIGRATIONS_DIR)
    assert ours and min(m.version for m in ours) > 1000
    assert max(m.version for m in axis_own) < 1000
    # One run over both folders, as `axis migrate` does it.
    assert len(migrations.discover(plugins.migration_dirs())) == len(ours) + len(axis_own)


async def test_migrate_applies_the_plugin_migrations_and_the_hub_is_ready(
    cabinet: Cabinet,
) -> None:
    assert await cabinet.db.fetchval("SELECT to_regclass('meetings') IS NOT NULL")
    answer = await cabinet.client.get("/readyz")
    body = await answer.json()
    assert "migrations pending" not in json.dumps(body)


async def test_person_add_by_cli_then_sign_in_gives_a_token_and_the_person(
    cabinet: Cabinet, test_database_url: str
) -> None:
    env = {"AXIS_DATABASE_URL": test_database_url}
    code, out, err = await axis(
        "cabinet", "person", "add", "--agency", GOV_OFFICE, "--login", "thutuong",
        "--name", "Nguyễn Văn Chính", "--kind", "member", "--title", "Thủ tướng Chính phủ",
        "--chair", "--password-stdin", "--json",
        env=env, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert code == 0, err
    made = json.loads(out)
    assert made == {
        "id": made["id"],
        "login": "thutuong",
        "full_name": "Nguyễn Văn Chính",
        "kind": "member",
        "title": "Thủ tướng Chính phủ",
        "votes": True,
        "chair": True,
        "active": True,
    }
    answer = await cabinet.client.post(
        "/v1/cabinet/sessions", json={"login": "thutuong", "password": PASSWORD}
    )
    assert answer.status == 201
    body = await answer.json()
    assert body["person"]["id"] == made["id"] and body["token"] and body["expires_at"]
    people = await cabinet.client.get(
        "/v1/cabinet/people", headers={"Authorization": f"Bearer {body['token']}"}
    )
    assert [p["login"] for p in (await people.json())["people"]] == ["thutuong"]

    # A second chair is refused and nothing is made.
    code, _, err = await axis(
        "cabinet", "person", "add", "--agency", GOV_OFFICE, "--login", "pho.thutuong",
        "--name", "B", "--kind", "member", "--chair", "--password-stdin",
        env=env, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert code == 1 and "chair" in err
    assert await cabinet.db.fetchval("SELECT count(*) FROM users WHERE login = 'pho.thutuong'") == 0


async def test_person_list_disable_and_add_cert_by_cli(
    cabinet: Cabinet, test_database_url: str, tmp_path: Path
) -> None:
    from signing.devca import DevCA

    env = {"AXIS_DATABASE_URL": test_database_url}
    await cabinet.person("bt.taichinh", "member", title="Bộ trưởng Bộ Tài chính")
    await cabinet.person("thuky", "secretariat")
    ca = DevCA.init(tmp_path / "ca", "Test CA")
    issued = ca.issue(GOV_OFFICE, "Bộ trưởng", out_dir=tmp_path / "bt")
    code, out, err = await axis(
        "cabinet", "person", "add-cert", "--login", "bt.taichinh", str(issued.cert_path), env=env
    )
    assert code == 0, err + out
    assert issued.fingerprint in out
    stored = await cabinet.db.fetchval("SELECT fingerprint FROM cabinet_certificates")
    assert stored == issued.fingerprint

    code, out, err = await axis("cabinet", "person", "disable", "--login", "bt.taichinh", env=env)
    assert code == 0, err
    # Disabled: the open session ends, and signing in is refused.
    await cabinet.call("GET", "/v1/cabinet/people", "bt.taichinh", 401)
    answer = await cabinet.client.post(
        "/v1/cabinet/sessions", json={"login": "bt.taichinh", "password": PASSWORD}
    )
    assert answer.status == 401

    code, out, err = await axis("cabinet", "person", "list", "--json", env=env)
    listed = {p["login"]: p for p in json.loads(out)}
    assert listed["bt.taichinh"]["active"] is False and listed["thuky"]["kind"] == "secretariat"


async def test_sign_in_refuses_a_wrong_password_then_locks(cabinet: Cabinet) -> None:
    await cabinet.person("thuky", "secretariat")
    for _ in range(4):
        answer = await cabinet.client.post(
            "/v1/cabinet/sessions", json={"login": "thuky", "password": "sai-mat-khau-1"}
        )
        assert answer.status == 401
        assert (await answer.json())["error"]["code"] == "login_refused"
    answer = await cabinet.client.post(
        "/v1/cabinet/sessions", json={"login": "thuky", "password": "sai-mat-khau-1"}
    )
    assert answer.status == 429
    # Locked even with the right password.
    answer = await cabinet.client.post(
        "/v1/cabinet/sessions", json={"login": "thuky", "password": PASSWORD}
    )
    assert answer.status == 429


async def test_a_clerk_cannot_sign_in_to_the_cabinet_nor_a_cabinet_person_to_the_clerk_pages(
    cabinet: Cabinet, db: asyncpg.Connection
) -> None:
    from axis.core import users

    await users.add(db, organ_id=GOV_OFFICE, login="vanthu", password=PASSWORD, role="clerk")
    answer = await cabinet.client.post(
        "/v1/cabinet/sessions", json={"login": "vanthu", "password": PASSWORD}
    )
    assert answer.status == 401
    await cabinet.person("thuky", "secretariat")
    # The clerks' page log-in refuses the cabinet account, and its token opens no page.
    page = await cabinet.client.get("/", headers=cabinet.auth("thuky"), allow_redirects=False)
    assert page.status in (302, 303, 401)
    assert await users.session_user(db, cabinet.tokens["thuky"]) is None


async def test_an_agency_token_is_refused_on_the_cabinet_api(
    cabinet: Cabinet, db: asyncpg.Connection
) -> None:
    from axis.core import agencies

    _, token = await agencies.add(db, organ_id="000.00.00.G01", name="Bộ Tài chính")
    answer = await cabinet.client.get(
        "/v1/cabinet/people", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status == 401
    assert (await answer.json())["error"]["where"] == "Authorization"
