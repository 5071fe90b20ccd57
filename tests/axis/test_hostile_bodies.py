"""Hostile request bodies: compressed bodies (gzip bombs, deflate, br, zstd), bodies without a
length and forms far over their size are refused on every surface (/v1, /vdxp, the pages, the
operations routes), each in its own format, without growing the hub's memory and storing nothing."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from multidict import CIMultiDict

import edoc
import signing
from axis.adapters.bodies import FORM_LIMIT
from axis.config import Config
from axis.core import users
from tests.axis.test_pages import _as_replacement
from tests.axis.test_vdxp import KEY, enroll
from tests.axis.vdxp_sdk import Sdk
from tests.support.hub_process import HubProcess
from tests.support.services import delete_topology
from tests.support.world import World, WorldAgency, letter_package

PASSWORD = "mật-khẩu-đủ-dài-1"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
MiB = 1024 * 1024


def gzip_bomb(expanded: int, wbits: int = 31) -> bytes:
    """`expanded` zero bytes compressed (gzip with wbits 31, zlib deflate with 15): ~1/1000 the size."""
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    zeros = bytes(MiB)
    parts = [packer.compress(zeros) for _ in range(expanded // MiB)]
    parts.append(packer.flush())
    return b"".join(parts)


@pytest.fixture(scope="module")
def small_bomb() -> bytes:
    return gzip_bomb(16 * MiB)


@pytest.fixture
async def pair(db: asyncpg.Connection, world: World) -> tuple[WorldAgency, WorldAgency]:
    g22 = await world.register(db, "000.00.00.G22", "Văn phòng Chính phủ")
    h41 = await world.register(db, "000.00.00.H41", "UBND tỉnh Nghệ An")
    await users.add(db, organ_id=g22.organ_id, login="vanthu.vpcp", password=PASSWORD, role="clerk")
    return g22, h41


async def nothing_stored(db: asyncpg.Connection) -> dict[str, int]:
    """What a request could have left behind: letters, deliveries, sessions, failures, audit."""
    row = await db.fetchrow(
        """SELECT (SELECT count(*) FROM documents) AS documents,
                  (SELECT count(*) FROM deliveries) AS deliveries,
                  (SELECT count(*) FROM user_sessions) AS sessions,
                  (SELECT count(*) FROM login_failures) AS login_failures,
                  (SELECT count(*) FROM audit_events) AS audit_events"""
    )
    return dict(row)


async def _logged_in(client) -> str:  # type: ignore[no-untyped-def]
    page = await client.get("/login")
    token = CSRF.search(await page.text())
    assert token
    resp = await client.post(
        "/login",
        data={"csrf_token": token.group(1), "login": "vanthu.vpcp", "password": PASSWORD},
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()
    page = await client.get("/letters/sent")
    found = CSRF.search(await page.text())
    assert found
    return found.group(1)


async def _chunked(total: int, piece: bytes = b"a" * 65536) -> AsyncIterator[bytes]:
    """A body sent without Content-Length (Transfer-Encoding: chunked)."""
    sent = 0
    while sent < total:
        yield piece
        sent += len(piece)


# ---------------------------------------------------------------- compressed bodies


ENCODINGS = ["gzip", "deflate", "br", "zstd", "x-gzip", "GZIP", "gzip, identity", "identity, br"]


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_a_compressed_letter_is_refused_415_naming_the_encoding_and_nothing_is_stored(
    client_for, hub_config, pair, db, small_bomb, encoding
) -> None:
    g22, _ = pair
    client = await client_for(hub_config)
    before = await nothing_stored(db)
    resp = await client.post(
        "/v1/documents",
        data=small_bomb,
        headers={**g22.auth, "Content-Encoding": encoding, "Content-Type": "application/xml"},
    )
    assert resp.status == 415
    error = (await resp.json())["error"]
    assert error["code"] == "unsupported_encoding"
    assert error["where"] == "Content-Encoding"
    assert encoding in error["message"]
    assert resp.headers["Connection"].lower() == "close"
    assert await nothing_stored(db) == before


async def test_compressed_bodies_are_refused_on_every_surface_in_its_own_format(
    client_for, hub_config, pair, db, small_bomb
) -> None:
    g22, _ = pair
    client = await client_for(hub_config)
    before = await nothing_stored(db)
    gz = {"Content-Encoding": "gzip"}

    # The API and the operations routes: a /v1 JSON error.
    for path in (
        "/v1/documents/0192f0c1-0000-7000-8000-000000000000/status",
        "/v1/deliveries/0192f0c1-0000-7000-8000-000000000000/ack",
        "/healthz",
        "/no/such/route",
    ):
        resp = await client.post(path, data=small_bomb, headers={**g22.auth, **gz})
        assert resp.status == 415, path
        assert (await resp.json())["error"]["code"] == "unsupported_encoding", path

    # The pages, logged in or not: a page in Vietnamese and English, never JSON.
    for path in ("/login", "/logout", "/letters/x/recall", "/letters/x/replace"):
        resp = await client.post(
            path,
            data=small_bomb,
            headers={**gz, "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert resp.status == 415, path
        assert resp.content_type == "text/html", path
        text = await resp.text()
        assert "Nội dung nén không được nhận" in text, path
        assert "Compressed content is refused" in text, path
        assert "Content-Encoding gzip" in text, path

    # VDXP: HTTP 200 with status FAIL, in ASCII, as the legacy SDK reads every answer.
    resp = await client.post(
        "/vdxp/sendEdoc",
        data=small_bomb,
        headers={**gz, "Content-Type": "application/octet-stream"},
    )
    assert resp.status == 200
    raw = await resp.read()
    assert raw.isascii()
    body = json.loads(raw)
    assert body["status"] == "FAIL" and body["ErrorCode"] != "0"
    assert body["axisCode"] == "unsupported_encoding"
    assert "Content-Encoding gzip" in body["ErrorDesc"]
    assert body["DocId"] == ""

    assert await nothing_stored(db) == before


async def test_a_chunked_body_with_a_compressing_transfer_coding_is_refused_415(
    client_for, hub_config, pair, db, small_bomb
) -> None:
    g22, _ = pair
    client = await client_for(hub_config)
    before = await nothing_stored(db)

    # aiohttp's client will not send this header: the request is written by hand.
    reader, writer = await asyncio.open_connection(client.host, client.port)
    head = (
        "POST /v1/documents HTTP/1.1\r\n"
        f"Host: {client.host}\r\n"
        f"Authorization: Bearer {g22.token}\r\n"
        "Transfer-Encoding: gzip, chunked\r\n\r\n"
    )
    writer.write(
        head.encode() + f"{len(small_bomb):x}\r\n".encode() + small_bomb + b"\r\n0\r\n\r\n"
    )
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 30)  # the hub closes after its answer
    writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 415"), answer[:200]
    error = json.loads(rest.partition(b"\r\n\r\n")[2])["error"]
    assert error["code"] == "unsupported_encoding" and error["where"] == "Transfer-Encoding"
    assert await nothing_stored(db) == before


async def test_a_letter_sent_with_content_encoding_identity_is_taken_as_sent(
    client_for, hub_config, pair, world
) -> None:
    g22, h41 = pair
    client = await client_for(hub_config)
    letter = world.signed(g22, letter_package(g22.organ_id, [h41.organ_id]))
    resp = await client.post(
        "/v1/documents", data=letter, headers={**g22.auth, "Content-Encoding": "identity"}
    )
    assert resp.status == 202, await resp.text()


async def test_a_signed_vdxp_call_with_a_compressed_package_is_a_fail_and_stores_nothing(
    client_for, hub_config, db, world
) -> None:
    client = await client_for(dataclasses.replace(hub_config, secret_key=KEY))
    await enroll(db, world, "000.00.00.H41", policy="legacy")
    _, secret = await enroll(db, world, "000.00.00.G22", policy="legacy")
    sdk = Sdk(client, "000.00.00.G22", secret)
    before = await nothing_stored(db)
    sdk.map.update(
        {"Content-Type": "application/octet-stream", "servicetype": "eDoc", "messagetype": "edoc"}
    )
    headers = CIMultiDict(sdk.headers(one_per_name=True))
    headers["Content-Encoding"] = "deflate"
    resp = await client.post("/vdxp/sendEdoc", data=gzip_bomb(8 * MiB, wbits=15), headers=headers)
    assert resp.status == 200
    body = json.loads(await resp.read())
    assert body["status"] == "FAIL" and body["axisCode"] == "unsupported_encoding"
    assert await nothing_stored(db) == before


# ---------------------------------------------------------------- bodies over the limit


async def test_a_login_form_declared_over_the_form_limit_is_refused_413_before_it_is_read(
    client_for, hub_config, pair, db
) -> None:
    client = await client_for(hub_config)
    before = await nothing_stored(db)
    big = b"login=vanthu.vpcp&password=" + b"x" * (FORM_LIMIT * 4)
    resp = await client.post(
        "/login", data=big, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert resp.status == 413
    assert resp.content_type == "text/html"
    text = await resp.text()
    assert "Nội dung gửi lên quá lớn" in text and "What was sent is too large" in text
    assert f"the limit here is {FORM_LIMIT} bytes" in text
    assert await nothing_stored(db) == before


async def test_a_chunked_login_form_is_counted_while_it_streams_and_cut_at_the_limit(
    client_for, hub_config, pair, db
) -> None:
    client = await client_for(hub_config)
    before = await nothing_stored(db)
    resp = await client.post(
        "/login",
        data=_chunked(8 * MiB, b"password=" + b"x" * 65527),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status == 413
    assert resp.content_type == "text/html"
    assert f"the limit here is {FORM_LIMIT} bytes" in await resp.text()
    assert await nothing_stored(db) == before


async def test_a_chunked_recall_form_of_a_logged_in_clerk_is_cut_at_the_limit(
    client_for, hub_config, pair, db, world
) -> None:
    g22, h41 = pair
    client = await client_for(hub_config)
    letter = world.signed(g22, letter_package(g22.organ_id, [h41.organ_id]))
    sent = await client.post("/v1/documents", data=letter, headers=g22.auth)
    letter_id = (await sent.json())["document_id"]
    csrf = await _logged_in(client)
    before = await nothing_stored(db)

    async def form() -> AsyncIterator[bytes]:
        yield f"csrf_token={csrf}&reason=".encode()
        async for piece in _chunked(4 * MiB):
            yield piece

    resp = await client.post(
        f"/letters/{letter_id}/recall",
        data=form(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        allow_redirects=False,
    )
    assert resp.status == 413
    assert resp.content_type == "text/html"
    assert await nothing_stored(db) == before


async def test_a_chunked_replacement_upload_over_the_package_limit_is_cut(
    client_for, hub_config, pair, db, world
) -> None:
    g22, h41 = pair
    client = await client_for(dataclasses.replace(hub_config, max_document_bytes=256 * 1024))
    letter = world.signed(g22, letter_package(g22.organ_id, [h41.organ_id]))
    sent = await client.post("/v1/documents", data=letter, headers=g22.auth)
    letter_id = (await sent.json())["document_id"]
    csrf = await _logged_in(client)
    before = await nothing_stored(db)

    form = aiohttp.FormData()
    form.add_field("csrf_token", csrf)
    form.add_field("package", _chunked(2 * MiB), filename="thay-the.xml")
    resp = await client.post(f"/letters/{letter_id}/replace", data=form, allow_redirects=False)
    assert resp.status == 413
    assert resp.content_type == "text/html"
    assert await nothing_stored(db) == before


async def test_a_chunked_package_is_counted_while_it_streams_on_v1_and_vdxp(
    client_for, hub_config, db, world
) -> None:
    limit = 256 * 1024
    client = await client_for(
        dataclasses.replace(hub_config, max_document_bytes=limit, secret_key=KEY)
    )
    h41, _ = await enroll(db, world, "000.00.00.H41", policy="legacy")
    g22, secret = await enroll(db, world, "000.00.00.G22", policy="legacy")
    before = await nothing_stored(db)

    resp = await client.post("/v1/documents", data=_chunked(4 * MiB), headers=g22.auth)
    assert resp.status == 413
    error = (await resp.json())["error"]
    assert error["code"] == "too_large" and error["where"] == "body"

    sdk = Sdk(client, g22.organ_id, secret)
    answer = await sdk.call(
        "sendEdoc",
        {"servicetype": "eDoc", "messagetype": "edoc"},
        body=b"a" * (limit + 1),
        content_type="application/octet-stream",
    )
    assert answer["status"] == "FAIL" and answer["axisCode"] == "too_large"
    assert await nothing_stored(db) == before

    # A package under the limit still goes through when it streams without a length.
    letter = world.signed(g22, letter_package(g22.organ_id, [h41.organ_id]))

    async def streamed() -> AsyncIterator[bytes]:
        for start in range(0, len(letter), 4096):
            yield letter[start : start + 4096]

    resp = await client.post("/v1/documents", data=streamed(), headers=g22.auth)
    assert resp.status == 202, await resp.text()


# ---------------------------------------------------------------- the hub's memory


def _rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for process {pid}")


@pytest.fixture
async def hub_process(
    hub_config: Config, tmp_path: Path, pair: tuple[WorldAgency, WorldAgency]
) -> AsyncIterator[HubProcess]:
    seal_dir = tmp_path / "seal-process"
    signing.Seal.generate(seal_dir)
    hub = HubProcess(
        {
            "AXIS_DATABASE_URL": hub_config.database_url,
            "AXIS_AMQP_URL": hub_config.amqp_url,
            "AXIS_BLOB_URL": (tmp_path / "blobs-process").as_uri(),
            "AXIS_TRUST_DIR": str(hub_config.trust_dir),
            "AXIS_SEAL_DIR": str(seal_dir),
            "AXIS_QUEUE_PREFIX": hub_config.queue_prefix,
            "AXIS_LOG_FORMAT": "text",
        },
        tmp_path / "hub.log",
    )
    try:
        await hub.start_ready()
        yield hub
    finally:
        hub.close()
        await delete_topology(hub_config)


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
async def test_a_gzip_bomb_leaves_the_hubs_memory_flat_on_login_and_on_sending(
    hub_process: HubProcess, pair, db
) -> None:
    """Measured in the hub's own process: its peak resident memory (VmHWM, reset just before the
    bombs) may not pass its resident memory before them by more than a few MiB."""
    g22, _ = pair
    bomb = await asyncio.to_thread(gzip_bomb, 512 * MiB)  # 512 MiB of zeros in about 0.5 MiB
    pid = hub_process.proc.pid if hub_process.proc else 0
    url = hub_process.url
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    async with aiohttp.ClientSession() as session:

        async def post(path: str, data: object, headers: dict[str, str]) -> int:
            async with session.post(url + path, data=data, headers=headers) as resp:
                await resp.read()
                return resp.status

        # Warm-up: the code paths are imported and their buffers made before measuring.
        assert await post("/login", b"login=x&password=y", form) in (200, 303, 400, 403)
        assert await post("/v1/documents", b"<x/>", g22.auth) in (400, 403)
        assert await post("/login", b"x" * (FORM_LIMIT + 1), form) == 413
        before = await nothing_stored(db)

        Path(f"/proc/{pid}/clear_refs").write_text("5")
        baseline = _rss_kib(pid, "VmRSS")
        gz = {"Content-Encoding": "gzip"}
        assert await post("/login", bomb, {**form, **gz}) == 415
        assert await post("/v1/documents", bomb, {**g22.auth, **gz}) == 415
        assert await post("/vdxp/sendEdoc", bomb, gz) == 200

        def pieces() -> Iterator[bytes]:
            for start in range(0, len(bomb), 65536):
                yield bomb[start : start + 65536]

        async def chunked_bomb() -> AsyncIterator[bytes]:
            for piece in pieces():
                yield piece

        assert await post("/login", chunked_bomb(), {**form, **gz}) == 415
        assert await post("/login", _chunked(64 * MiB), form) == 413
        peak = _rss_kib(pid, "VmHWM")

    grown_mib = (peak - baseline) / 1024
    assert grown_mib < 8, f"the hub's memory grew by {grown_mib:.1f} MiB answering the bombs"
    assert await nothing_stored(db) == before
    assert os.path.exists(f"/proc/{pid}")  # the hub is still there


async def test_packages_far_larger_than_a_form_still_go_through_every_route_that_takes_one(
    client_for, hub_config, db, world
) -> None:
    """The form limit is for forms: /v1 sending, a status, VDXP sendEdoc and the pages' replace
    upload take packages up to AXIS_MAX_DOCUMENT_BYTES."""
    client = await client_for(dataclasses.replace(hub_config, secret_key=KEY))
    h41, _ = await enroll(db, world, "000.00.00.H41", policy="legacy")
    g22, secret = await enroll(db, world, "000.00.00.G22", policy="legacy")
    await users.add(db, organ_id=g22.organ_id, login="vanthu.vpcp", password=PASSWORD, role="clerk")
    scan = [("ban-scan.pdf", os.urandom(4 * FORM_LIMIT))]

    letter = world.signed(g22, letter_package(g22.organ_id, [h41.organ_id], attachments=scan))
    assert len(letter) > 4 * FORM_LIMIT
    resp = await client.post("/v1/documents", data=letter, headers=g22.auth)
    assert resp.status == 202, await resp.text()
    letter_id = (await resp.json())["document_id"]

    # A status has no attachment and its text fields are limited (docs/EDXML.md): what makes one
    # large is insignificant to the signature, here a comment before the root element.
    status = world.status(h41, letter, "03")
    padding = b"<!--" + b" ghi chu " * (2 * FORM_LIMIT // 9) + b"-->\n"
    status = status.replace(b"<edXML", padding + b"<edXML", 1)
    assert len(status) > 2 * FORM_LIMIT
    resp = await client.post(f"/v1/documents/{letter_id}/status", data=status, headers=h41.auth)
    assert resp.status == 202, await resp.text()

    other = world.signed(g22, letter_package(g22.organ_id, [h41.organ_id], attachments=scan))
    answer = await Sdk(client, g22.organ_id, secret).send(other)
    assert answer["status"] == "OK", answer

    original = letter_package(g22.organ_id, [h41.organ_id], number="99", attachments=scan)
    original_bytes = world.signed(g22, original)
    resp = await client.post("/v1/documents", data=original_bytes, headers=g22.auth)
    original_doc = (await resp.json())["document_id"]
    header = original.header
    assert isinstance(header, edoc.MessageHeader)
    replacement = _as_replacement(
        letter_package(g22.organ_id, [h41.organ_id], number="100", attachments=scan),
        header.document_id,
        [h41.organ_id],
    )
    csrf = await _logged_in(client)
    form = aiohttp.FormData()
    form.add_field("csrf_token", csrf)
    form.add_field(
        "package",
        world.signed(g22, replacement),
        filename="thay-the.xml",
        content_type="application/xml",
    )
    resp = await client.post(f"/letters/{original_doc}/replace", data=form, allow_redirects=False)
    assert resp.status == 303, await resp.text()
