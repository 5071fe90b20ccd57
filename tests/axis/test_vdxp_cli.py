"""`axis agency add|rotate-secret|set-policy` for VDXP credentials, and `axis vdxp ...` talking to a
running axis the way an agency would test its own systemid and secret."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
from pathlib import Path

import pytest

import edoc
from axis.adapters.vdxp import protocol
from axis.client.vdxp import VdxpClient
from axis.config import Config
from tests.axis.test_vdxp import KEY
from tests.support.waiting import wait_for
from tests.support.world import letter_package


@pytest.fixture
def vdxp_config(hub_config: Config) -> Config:
    return dataclasses.replace(hub_config, secret_key=KEY)


async def axis(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "axis.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


async def test_agency_add_shows_the_vdxp_secret_once_and_the_vdxp_commands_use_it(
    client_for, vdxp_config, test_database_url, tmp_path: Path
) -> None:
    env = {"AXIS_DATABASE_URL": test_database_url, "AXIS_SECRET_KEY": KEY}
    client = await client_for(vdxp_config)
    endpoint = str(client.make_url("/vdxp"))
    secrets = {}
    for organ in ("000.00.00.G22", "000.00.00.H41"):
        code, out, err = await axis(
            "agency", "add", "--organ", organ, "--name", f"Cơ quan {organ}", "--json", env=env
        )
        assert code == 0, err
        added = json.loads(out)
        assert added["organ_id"] == organ and added["token"] and added["vdxp_secret"]
        secrets[organ] = tmp_path / f"{organ}.secret"
        secrets[organ].write_text(added["vdxp_secret"] + "\n")
        assert (await axis("agency", "set-policy", organ, "legacy", env=env))[0] == 0

    def vdxp(organ: str, *args: str) -> list[str]:
        return [
            "vdxp",
            *args,
            "--endpoint",
            endpoint,
            "--systemid",
            organ,
            "--secret-file",
            str(secrets[organ]),
        ]

    package = tmp_path / "letter.edxml"
    package.write_bytes(edoc.build(letter_package("000.00.00.G22", ["000.00.00.H41"])))
    code, out, err = await axis(*vdxp("000.00.00.G22", "send", str(package), "--json"), env=env)
    assert code == 0, err
    doc_id = json.loads(out)["DocId"]

    async def listed() -> list[dict] | None:
        code, out, err = await axis(*vdxp("000.00.00.H41", "list", "--json"), env=env)
        assert code == 0, err
        return json.loads(out) or None

    [item] = await wait_for(listed)
    assert item["unsignedLegacy"] is True and item["documentId"] == doc_id
    fetched = tmp_path / "fetched.edxml"
    code, _, err = await axis(
        *vdxp("000.00.00.H41", "get", item["docId"], "-o", str(fetched)), env=env
    )
    assert code == 0, err
    assert b"edXMLEnvelope" in fetched.read_bytes()
    assert (await axis(*vdxp("000.00.00.H41", "ack", item["docId"]), env=env))[0] == 0
    code, out, _ = await axis(*vdxp("000.00.00.H41", "agencies", "--json"), env=env)
    assert {a["code"] for a in json.loads(out)} == {"000.00.00.G22", "000.00.00.H41"}

    # A rotated secret replaces the old one at once.
    code, out, err = await axis("agency", "rotate-secret", "000.00.00.G22", "--json", env=env)
    assert code == 0, err
    code, _, err = await axis(*vdxp("000.00.00.G22", "agencies"), env=env)
    assert code == 1 and "hash-header" in err
    secrets["000.00.00.G22"].write_text(json.loads(out)["vdxp_secret"])
    assert (await axis(*vdxp("000.00.00.G22", "agencies"), env=env))[0] == 0


def test_the_client_signs_exactly_as_the_sdk_puts_it_on_the_wire() -> None:
    client = VdxpClient("http://axis.example/vdxp", "000.00.00.G22", "s3cret")
    client.timestamp = "22112026T134218+0548"
    headers = client.headers([("docId", "abc"), ("filePath", "")], "application/json")
    names = [n for n, _ in headers]
    assert names == [
        "XroadVnpt-systemid",
        "XroadVnpt-timestamp",
        "Content-Type",
        "XroadVnpt-Content-Type",
        "XroadVnpt-docId",
        "XroadVnpt-filePath",
        "XroadVnpt-sign-header-key",
        "XroadVnpt-sign-header",
        "XroadVnpt-hash-header",
        "User-Agent",
        "XroadVnpt-version",
    ]
    values = dict(headers)
    signed = (
        '{"XroadVnpt-systemid":"000.00.00.G22","XroadVnpt-timestamp":"22112026T134218+0548",'
        '"XroadVnpt-Content-Type":"application/json","XroadVnpt-docId":"abc","XroadVnpt-filePath":""}'
    )
    assert values["XroadVnpt-sign-header"] == signed
    assert values["XroadVnpt-sign-header-key"] == "systemid;timestamp;Content-Type;docId;filePath"
    assert values["XroadVnpt-hash-header"] == protocol.hmac_hex("s3cret", signed.encode())
    assert values["User-Agent"] == "JAVASDKAgent/1.0.0 XRoad/VPCP"
    assert values["XroadVnpt-version"] == "3.0.201608"
    # And the server accepts what it signs.
    request = protocol.read_signed(headers)
    protocol.check_signature(request, "s3cret", headers)
    assert request.params()["docId"] == "abc"


async def test_serve_refuses_to_start_in_production_without_the_secret_key(tmp_path: Path) -> None:
    env = {"AXIS_ENV": "production", "AXIS_SECRET_KEY": "", "AXIS_LISTEN": "127.0.0.1:0"}
    code, _, err = await axis("serve", env=env)
    assert code == 1 and "AXIS_SECRET_KEY" in err
    code, _, err = await axis("config", env={"AXIS_SECRET_KEY": "not-a-key"})
    assert code == 1 and "AXIS_SECRET_KEY" in err
    code, out, _ = await axis(
        "config", "--json", env={"AXIS_SECRET_KEY": KEY, "AXIS_ENV": "development"}
    )
    shown = json.loads(out)
    assert shown["secret_key"] == "***" and shown["env"] == "development"


async def test_set_hub_marks_the_systems_that_may_register_units_and_shows_in_show_and_list(
    client_for, vdxp_config, test_database_url, tmp_path: Path
) -> None:
    env = {"AXIS_DATABASE_URL": test_database_url, "AXIS_SECRET_KEY": KEY}
    client = await client_for(vdxp_config)
    code, out, err = await axis(
        "agency",
        "add",
        "--organ",
        "000.00.00.H41",
        "--name",
        "UBND tỉnh Nghệ An",
        "--json",
        env=env,
    )
    assert code == 0, err
    secret = tmp_path / "h41.secret"
    secret.write_text(json.loads(out)["vdxp_secret"])
    vdxp = [
        "--endpoint",
        str(client.make_url("/vdxp")),
        "--systemid",
        "000.00.00.H41",
        "--secret-file",
        str(secret),
    ]
    unit = {"pcode": "000.00.00.H41", "code": "000.01.32.H41", "name": "Sở Nội vụ"}

    def register() -> None:
        VdxpClient(
            str(client.make_url("/vdxp")), "000.00.00.H41", secret.read_text()
        ).register_agency(unit)

    async def shown() -> tuple[bool, bool]:
        _, show, _ = await axis("agency", "show", "000.00.00.H41", "--json", env=env)
        _, listed, _ = await axis("agency", "list", "--json", env=env)
        [row] = [r for r in json.loads(listed) if r["organ_id"] == "000.00.00.H41"]
        return json.loads(show)["vdxp_hub"], row["vdxp_hub"]

    assert await shown() == (False, False)
    from axis.client.vdxp import VdxpError

    with pytest.raises(VdxpError, match="khong phai he thong hub"):
        await asyncio.to_thread(register)

    code, out, err = await axis("agency", "set-hub", "000.00.00.H41", "on", env=env)
    assert code == 0 and "may now register" in out, err
    assert await shown() == (True, True)
    await asyncio.to_thread(register)
    code, out, err = await axis(*["vdxp", "agencies", "--json", *vdxp], env=env)
    assert code == 0, err
    assert {a["code"]: a["pid"] for a in json.loads(out)}["000.01.32.H41"] == "000.00.00.H41"

    code, out, err = await axis("agency", "set-hub", "000.00.00.H41", "off", env=env)
    assert code == 0 and "no longer" in out, err
    assert await shown() == (False, False)
    code, _, err = await axis("agency", "set-hub", "000.00.00.X99", "on", env=env)
    assert code == 1 and "no agency 000.00.00.X99" in err
    code, _, err = await axis("agency", "set-hub", "000.00.00.H41", "maybe", env=env)
    assert code == 2 and "on" in err and "off" in err
