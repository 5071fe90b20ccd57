"""The packet as a ZIP: streamed (never whole in memory), holding the caller's sealed manifest, an
index page and each paper they may see at its path; checked offline by `axis meeting verify-packet`."""

from __future__ import annotations

import hashlib
import json
import os
import tracemalloc
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from signing.devca import DevCA
from tests.meetings.conftest import Cabinet, axis


async def _packet(cabinet: Cabinet, big: bytes) -> dict[str, Any]:
    await cabinet.person("thuky", "secretariat")
    await cabinet.person("thutuong", "member", chair=True, title="Thủ tướng")
    await cabinet.person("botaichinh", "member", title="Bộ trưởng Bộ Tài chính")
    ids = cabinet.ids
    starts = (datetime.now(UTC) + timedelta(days=10)).isoformat()
    meeting = await cabinet.call(
        "POST", "/v1/meetings", "thuky", 201,
        json={"title": "Phiên họp Chính phủ tháng 7", "kind": "regular", "starts_at": starts,
              "place": "Hà Nội", "invitees": [ids["thutuong"], ids["botaichinh"]]},
    )  # fmt: skip
    mid = meeting["id"]
    item = await cabinet.call(
        "POST", f"/v1/meetings/{mid}/items", "thuky", 201, json={"title": "Dự toán ngân sách"}
    )
    papers = {}
    for key, data, audience in (
        ("public", b"%PDF-1.7 to trinh" * 100, None),
        ("big", big, None),
        ("secret", b"%PDF-1.7 mat" * 100, [ids["botaichinh"]]),
    ):
        stored = await cabinet.call("POST", "/v1/cabinet/files", "thuky", 201, data=data)
        papers[key] = await cabinet.call(
            "POST", f"/v1/meetings/{mid}/items/{item['id']}/papers", "thuky", 201,
            json={"title": f"Tài liệu {key}", "file_sha256": stored["sha256"],
                  "name": f"{key} tài liệu.pdf", "content_type": "application/pdf",
                  "audience": audience},
        )  # fmt: skip
    await cabinet.call("POST", f"/v1/meetings/{mid}/packets", "thuky", 201, json={})
    return {"id": mid, "papers": papers}


async def _download(cabinet: Cabinet, mid: str, login: str, to: Path) -> dict[str, str]:
    async with cabinet.client.get(
        f"/v1/meetings/{mid}/packet.zip", headers=cabinet.auth(login)
    ) as answer:
        assert answer.status == 200, await answer.text()
        with to.open("wb") as f:
            async for chunk in answer.content.iter_chunked(1 << 16):
                f.write(chunk)
        return dict(answer.headers)


async def test_a_member_downloads_their_packet_as_a_zip_and_checks_it_offline(
    cabinet: Cabinet, tmp_path: Path, dev_ca: DevCA
) -> None:
    big = os.urandom(3 << 20)
    packet = await _packet(cabinet, big)
    mid, papers = packet["id"], packet["papers"]
    target = tmp_path / "packet.zip"
    headers = await _download(cabinet, mid, "thutuong", target)
    assert headers["Content-Type"] == "application/zip"
    # Its length is known before the papers are read (every CRC-32 is), and every entry checks.
    assert int(headers["Content-Length"]) == target.stat().st_size

    sealed = await cabinet.call("GET", f"/v1/meetings/{mid}/packet", "thutuong", 200)
    with zipfile.ZipFile(target) as archive:
        assert archive.testzip() is None
        assert json.loads(archive.read("manifest.json")) == sealed
        listed = [p for i in sealed["payload"]["items"] for p in i["papers"]]
        assert {p["paper_id"] for p in listed} == {papers["public"]["id"], papers["big"]["id"]}
        assert sorted(archive.namelist()) == sorted(
            ["manifest.json", "index.html", *(p["path"] for p in listed)]
        )
        by_id = {p["paper_id"]: p for p in listed}
        assert archive.read(by_id[papers["big"]["id"]]["path"]) == big
        page = archive.read("index.html").decode()
        assert "Phiên họp Chính phủ tháng 7" in page and "Tài liệu public" in page
        assert "Tài liệu secret" not in page
    # Downloading counts as opening what it holds.
    reads = await cabinet.call("GET", f"/v1/meetings/{mid}/reads", "thuky", 200)
    opened = {r["paper_id"]: [o["person_id"] for o in r["opened"]] for r in reads["papers"]}
    assert opened[papers["big"]["id"]] == [cabinet.ids["thutuong"]]

    seal = cabinet.config.seal_dir / "seal.crt"
    code, out, err = await axis(
        "meeting", "verify-packet", str(target), "--seal-cert", str(seal), "--json", env={}
    )
    assert code == 0, err
    assert json.loads(out)["papers"] == 2 and json.loads(out)["for"] == cabinet.ids["thutuong"]

    # A paper changed inside the ZIP: exit 1 naming it.
    changed = tmp_path / "changed.zip"
    with zipfile.ZipFile(target) as src, zipfile.ZipFile(changed, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == by_id[papers["big"]["id"]]["path"]:
                data = data[:-1] + bytes([data[-1] ^ 1])
            dst.writestr(info.filename, data)
    code, out, err = await axis(
        "meeting", "verify-packet", str(changed), "--seal-cert", str(seal), env={}
    )
    assert code == 1 and by_id[papers["big"]["id"]]["path"] in err and "SHA-256" in err

    # A manifest someone edited, or checked against another certificate: the seal fails.
    edited = tmp_path / "edited.zip"
    forged = json.loads(json.dumps(sealed))
    forged["payload"]["items"][0]["papers"][0]["sha256"] = "0" * 64
    with zipfile.ZipFile(target) as src, zipfile.ZipFile(edited, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(
                info.filename, json.dumps(forged) if info.filename == "manifest.json" else data
            )
    for zip_path, cert in ((edited, seal), (target, dev_ca.root_path)):
        code, out, err = await axis(
            "meeting", "verify-packet", str(zip_path), "--seal-cert", str(cert), env={}
        )
        assert code == 1 and "manifest.json: the seal does not verify" in err, err


async def test_the_secret_paper_is_in_its_audiences_zip_and_a_taken_back_one_is_left_out(
    cabinet: Cabinet, tmp_path: Path
) -> None:
    packet = await _packet(cabinet, b"%PDF-1.7 lon" * 1000)
    mid, papers = packet["id"], packet["papers"]
    await cabinet.call(
        "POST", f"/v1/meetings/{mid}/take-back", "thuky", 200,
        json={"papers": [papers["public"]["id"]]},
    )  # fmt: skip
    target = tmp_path / "p.zip"
    await _download(cabinet, mid, "botaichinh", target)
    with zipfile.ZipFile(target) as archive:
        names = archive.namelist()
        page = archive.read("index.html").decode()
    assert any("secret" in n for n in names) and not any("public" in n for n in names)
    assert "Đã thu hồi / Taken back" in page
    # The secretariat's archive keeps everything.
    await _download(cabinet, mid, "thuky", target)
    with zipfile.ZipFile(target) as archive:
        assert len(archive.namelist()) == 2 + 3
    # Someone not invited: 404, as for another agency's letter.
    await cabinet.person("boquocphong", "member")
    await cabinet.call("GET", f"/v1/meetings/{mid}/packet.zip", "boquocphong", 404)


async def test_a_large_packet_passes_through_the_hub_without_being_held_in_memory(
    cabinet: Cabinet, tmp_path: Path
) -> None:
    big = os.urandom(48 << 20)
    packet = await _packet(cabinet, big)
    target = tmp_path / "big.zip"
    tracemalloc.start()
    try:
        await _download(cabinet, packet["id"], "thutuong", target)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"the hub held {peak >> 20} MB at once for a 48 MB paper"
    with zipfile.ZipFile(target) as archive:
        listed = [n for n in archive.namelist() if n.startswith("papers/")]
        digests = {hashlib.sha256(archive.read(n)).hexdigest() for n in listed}
    assert hashlib.sha256(big).hexdigest() in digests


async def test_a_paper_corrupted_on_disk_is_a_server_error_before_any_byte_of_the_zip(
    cabinet: Cabinet, tmp_path: Path
) -> None:
    big = os.urandom(1 << 20)
    packet = await _packet(cabinet, big)
    # Whole at the first download (and so remembered as checked)...
    first = await _download(cabinet, packet["id"], "thutuong", tmp_path / "first.zip")
    assert int(first["Content-Length"]) == (tmp_path / "first.zip").stat().st_size
    # ...then rewritten in place on disk: the file is another one, checked again, and refused.
    sha = hashlib.sha256(big).hexdigest()
    path = Path(urlsplit(cabinet.config.blob_url).path) / sha[:2] / sha[2:4] / sha
    path.chmod(0o644)
    path.write_bytes(big[:-1] + bytes([big[-1] ^ 1]))
    async with cabinet.client.get(
        f"/v1/meetings/{packet['id']}/packet.zip", headers=cabinet.auth("botaichinh")
    ) as answer:
        assert answer.status == 500
        assert (await answer.json())["error"]["code"] == "blob_unreadable"
