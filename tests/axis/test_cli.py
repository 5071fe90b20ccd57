"""The admin and agency commands, run as a person would: `axis agency ...`, `axis send`, `axis inbox`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import asyncpg

from axis.core import agencies
from signing.devca import DevCA
from tests.support.waiting import wait_for
from tests.support.world import World


async def axis(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "axis.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


async def test_agency_add_prints_a_token_once_that_authenticates_the_agency(
    test_database_url: str, dev_ca: DevCA, db: asyncpg.Connection, tmp_path: Path
) -> None:
    issued = dev_ca.issue("000.00.00.G22", "Văn phòng Chính phủ", out_dir=tmp_path / "g22")
    env = {"AXIS_DATABASE_URL": test_database_url}
    code, out, err = await axis(
        "agency",
        "add",
        "--organ",
        "000.00.00.G22",
        "--name",
        "Văn phòng Chính phủ",
        "--cert",
        str(issued.cert_path),
        "--json",
        env=env,
    )
    assert code == 0, err
    shown = json.loads(out)
    assert shown["organ_id"] == "000.00.00.G22"
    assert shown["delivery"] == "pull"
    assert shown["certificates"][0]["fingerprint"] == issued.fingerprint
    found = await agencies.by_token(db, shown["token"])
    assert found is not None and found.organ_id == "000.00.00.G22"
    # Only a hash is kept.
    assert shown["token"] not in json.dumps(
        [dict(r) for r in await db.fetch("SELECT * FROM agencies")], default=str
    )

    code, out, err = await axis("agency", "add", "--organ", "000.00.00.G22", "--name", "x", env=env)
    assert code == 1
    assert err.strip() == "error: agency 000.00.00.G22 is already registered"


async def test_agency_add_refuses_a_bad_organ_id_and_a_certificate_of_another_organ(
    test_database_url: str, dev_ca: DevCA, db: asyncpg.Connection, tmp_path: Path
) -> None:
    env = {"AXIS_DATABASE_URL": test_database_url}
    code, _, err = await axis("agency", "add", "--organ", "G22", "--name", "x", env=env)
    assert code == 1
    assert "'G22' is not an organ id" in err
    other = dev_ca.issue("000.00.00.H41", "UBND tỉnh Nghệ An", out_dir=tmp_path / "h41")
    code, _, err = await axis(
        "agency",
        "add",
        "--organ",
        "000.00.00.G22",
        "--name",
        "x",
        "--cert",
        str(other.cert_path),
        env=env,
    )
    assert code == 1
    assert (
        "cannot be registered for 000.00.00.G22: certificate carries organ code 000.00.00.H41 in UID"
        in err
    )
    assert await db.fetchval("SELECT count(*) FROM agencies") == 0


async def test_agency_lifecycle_commands(
    test_database_url: str, dev_ca: DevCA, db: asyncpg.Connection, tmp_path: Path
) -> None:
    env = {"AXIS_DATABASE_URL": test_database_url}
    first = dev_ca.issue("000.00.00.H41", "UBND tỉnh Nghệ An", out_dir=tmp_path / "a")
    second = dev_ca.issue("000.00.00.H41", "UBND tỉnh Nghệ An", out_dir=tmp_path / "b")
    code, out, _ = await axis(
        "agency",
        "add",
        "--organ",
        "000.00.00.H41",
        "--name",
        "UBND tỉnh Nghệ An",
        "--json",
        env=env,
    )
    old_token = json.loads(out)["token"]

    assert (await axis("agency", "add-cert", "000.00.00.H41", str(first.cert_path), env=env))[
        0
    ] == 0
    assert (await axis("agency", "add-cert", "000.00.00.H41", str(second.cert_path), env=env))[
        0
    ] == 0
    code, out, _ = await axis("agency", "remove-cert", "000.00.00.H41", first.fingerprint, env=env)
    assert code == 0
    shown = json.loads((await axis("agency", "show", "000.00.00.H41", "--json", env=env))[1])
    assert [c["fingerprint"] for c in shown["certificates"]] == [second.fingerprint]

    code, out, _ = await axis("agency", "rotate-token", "000.00.00.H41", "--json", env=env)
    new_token = json.loads(out)["token"]
    assert await agencies.by_token(db, old_token) is None
    assert (await agencies.by_token(db, new_token)) is not None

    assert (
        await axis(
            "agency", "set-webhook", "000.00.00.H41", "https://dms.nghean.gov.vn/axis", env=env
        )
    )[0] == 0
    assert (await axis("agency", "disable", "000.00.00.H41", env=env))[0] == 0
    listed = json.loads((await axis("agency", "list", "--json", env=env))[1])
    assert listed == [
        {
            "organ_id": "000.00.00.H41",
            "name": "UBND tỉnh Nghệ An",
            "active": False,
            "delivery": "push",
            "signature_policy": "strict",
            "vdxp_hub": False,
        }
    ]
    code, _, err = await axis("agency", "show", "000.00.00.X99", env=env)
    assert code == 1 and "no agency 000.00.00.X99" in err


async def test_migrate_status_lists_applied_migrations(test_database_url: str) -> None:
    code, out, err = await axis(
        "migrate", "--status", "--json", env={"AXIS_DATABASE_URL": test_database_url}
    )
    assert code == 0, err
    rows = json.loads(out)
    assert rows[0]["version"] == 1 and rows[0]["applied_at"] is not None


async def test_send_inbox_and_fetch_from_the_command_line(
    client_for, hub_config, db: asyncpg.Connection, world: World, tmp_path: Path
) -> None:
    g22 = await world.register(db, "000.00.00.G22")
    h41 = await world.register(db, "000.00.00.H41")
    client = await client_for(hub_config)
    url = str(client.make_url("/")).rstrip("/")
    letter = tmp_path / "letter.xml"
    letter.write_bytes(
        world.letter(g22, [h41], attachments=[("to-trinh.pdf", b"%PDF-1.4 to trinh")])
    )

    code, out, err = await axis("send", str(letter), "--url", url, "--token", g22.token, "--json")
    assert code == 0, err
    sent = json.loads(out)
    assert sent["ok"] and sent["deliveries"][0]["recipient"] == "000.00.00.H41"

    code, out, err = await axis(
        "send", str(letter), "--to", "000.00.00.H29", "--url", url, "--token", g22.token
    )
    assert code == 1 and "not to 000.00.00.H29" in err

    async def listed():
        code, out, _ = await axis("inbox", "--url", url, "--token", h41.token, "--json")
        return json.loads(out) if code == 0 and json.loads(out) else None

    items = await wait_for(listed)
    assert items[0]["document_id"] == sent["document_id"]

    out_dir = tmp_path / "in"
    code, out, err = await axis(
        "fetch",
        sent["document_id"],
        "-o",
        str(out_dir),
        "--ack",
        items[0]["delivery_id"],
        "--url",
        url,
        "--token",
        h41.token,
        "--json",
    )
    assert code == 0, err
    result = json.loads(out)
    assert Path(result["package"]).read_bytes() == letter.read_bytes()
    assert Path(result["attachments"][0]["file"]).read_bytes() == b"%PDF-1.4 to trinh"
    assert result["acknowledged"] is True

    code, out, err = await axis("inbox", "--url", url, "--token", "axis_wrong", "--json")
    assert code == 1 and "401" in err


async def test_inbox_writes_every_waiting_letter_then_acknowledges_them_in_one_call(
    client_for, hub_config, db: asyncpg.Connection, world: World, tmp_path: Path
) -> None:
    g22 = await world.register(db, "000.00.00.G22")
    h41 = await world.register(db, "000.00.00.H41")
    client = await client_for(hub_config)
    url = str(client.make_url("/")).rstrip("/")
    letters = [world.letter(g22, [h41]) for _ in range(3)]
    sent = []
    for data in letters:
        resp = await client.post("/v1/documents", data=data, headers=g22.auth)
        sent.append((await resp.json())["document_id"])

    async def listed():
        resp = await client.get("/v1/inbox", headers=h41.auth)
        items = (await resp.json())["items"]
        return items if len(items) == 3 else None

    items = await wait_for(listed)
    out_dir = tmp_path / "in"
    code, out, err = await axis(
        "inbox", "-o", str(out_dir), "--ack", "--url", url, "--token", h41.token, "--json"
    )
    assert code == 0, err
    shown = json.loads(out)
    assert [i["document_id"] for i in shown] == sent
    for document_id, data in zip(sent, letters, strict=True):
        assert (out_dir / f"{document_id}.xml").read_bytes() == data
    assert all("package_base64" not in i for i in shown)
    resp = await client.get("/v1/inbox", headers=h41.auth)
    assert (await resp.json())["items"] == []

    # `axis ack` takes many ids in one call and names each one it refused.
    code, out, err = await axis(
        "ack", items[0]["delivery_id"], "not-an-id", "--url", url, "--token", h41.token
    )
    assert code == 1
    first, bad = json.loads(out)
    assert first["id"] == items[0]["delivery_id"] and first["already_acknowledged"] is True
    assert (bad["id"], bad["ok"], bad["error"]["code"]) == ("not-an-id", False, "bad_request")


async def test_agency_add_and_add_cert_say_which_organ_code_a_certificate_carries_and_where(
    test_database_url: str, dev_ca: DevCA, db: asyncpg.Connection, tmp_path: Path
) -> None:
    env = {"AXIS_DATABASE_URL": test_database_url}
    in_ou = dev_ca.issue(
        "000.00.00.G22", "Văn phòng Chính phủ", organ_in="ou", out_dir=tmp_path / "ou"
    )
    bare = dev_ca.issue(
        "000.00.00.G22", "Văn phòng Chính phủ", organ_in="none", uid="MST:0100109106",
        out_dir=tmp_path / "bare",
    )  # fmt: skip
    code, out, err = await axis(
        "agency", "add", "--organ", "000.00.00.G22", "--name", "Văn phòng Chính phủ",
        "--cert", str(in_ou.cert_path), "--json", env=env,
    )  # fmt: skip
    assert code == 0, err
    [cert] = json.loads(out)["certificates"]
    assert cert["organ_code"] == "000.00.00.G22"
    assert cert["organ_code_found_in"] == [{"code": "000.00.00.G22", "place": "OU"}]
    assert cert["organ_code_note"] == "certificate carries organ code 000.00.00.G22 in OU"

    code, out, err = await axis(
        "agency", "add-cert", "000.00.00.G22", str(bare.cert_path), "--json", env=env
    )
    assert code == 0, err
    added = json.loads(out)
    assert added["fingerprint"] == bare.fingerprint and added["organ_code"] is None
    assert added["organ_code_note"] == (
        "certificate carries no organ code (looked in UID, OU, serialNumber, subjectAltName URI): "
        "on the axis the registry decides"
    )

    # A certificate signs for one agency: registering G22's for H41 is refused, naming G22.
    await axis("agency", "add", "--organ", "000.00.00.H41", "--name", "UBND tỉnh Nghệ An", env=env)
    code, _, err = await axis("agency", "add-cert", "000.00.00.H41", str(bare.cert_path), env=env)
    assert code == 1
    assert f"certificate {bare.fingerprint} is already registered to 000.00.00.G22" in err
    # One naming another organ in OU is refused with what it carries and where.
    code, _, err = await axis("agency", "add-cert", "000.00.00.H41", str(in_ou.cert_path), env=env)
    assert code == 1
    assert "certificate carries organ code 000.00.00.G22 in OU" in err
    assert (
        await db.fetchval(
            "SELECT count(*) FROM agency_certificates WHERE organ_id = '000.00.00.H41'"
        )
        == 0
    )
