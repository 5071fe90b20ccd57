"""`axis fetch` writes any attachment name safely inside the chosen folder, and says "cannot write"
(not "cannot reach the axis") when this machine cannot write the files."""

from __future__ import annotations

import json
import os
import unicodedata
from pathlib import Path

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from axis.client.filenames import attachment_file_name, clean, fit
from tests.axis.test_cli import axis
from tests.support.world import World

DOC = "0192f0c1-0000-7000-8000-000000000000"
BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
LONG_NAME = "Tờ trình về việc phê duyệt " * 20 + ".pdf"  # ~700 bytes of UTF-8
FULL_NAME = "a" * 251 + ".pdf"  # 255 bytes: the most the axis takes, too long once prefixed


# ---------------------------------------------------------------- the names


@pytest.mark.parametrize(
    ("given_name", "expected"),
    [
        ("../../.bashrc", "bashrc"),
        ("/etc/passwd", "etc_passwd"),
        ("..\\..\\Windows\\win.ini", "Windows_win.ini"),
        ("báo cáo\u202egpj.exe", "báo cáogpj.exe"),
        ("to\x85trinh\x9b.pdf", "to trinh.pdf"),
        ("line\nbreak\tand  tab.docx", "line break and tab.docx"),
        ("-rf --no-preserve-root", "rf --no-preserve-root"),
        ("...hidden", "hidden"),
        ("CON.txt", "_CON.txt"),
        ("lpt1", "_lpt1"),
        ("name. . .", "name"),
        ('a<b>c:d"e|f?g*h.pdf', "a_b_c_d_e_f_g_h.pdf"),
        ("Quye\u0302\u0301t đi\u0323nh.pdf", "Quyết định.pdf"),  # decomposed: stored composed
        ("\u202e\u200f", ""),
        ("..", ""),
        (None, ""),
    ],
)
def test_attachment_names_are_cleaned_of_anything_that_could_leave_hide_or_disguise_a_file(
    given_name: str | None, expected: str
) -> None:
    assert clean(given_name) == expected


def test_a_long_name_is_cut_to_the_limit_in_whole_characters_keeping_its_extension() -> None:
    name = attachment_file_name(DOC, LONG_NAME, 3, 255)
    raw = name.encode("utf-8")
    assert len(raw) <= 255
    assert name.startswith(f"{DOC}-3-Tờ trình")
    assert name.endswith(".pdf")
    raw.decode("utf-8")  # valid UTF-8: no character cut in half


def test_a_name_with_nothing_left_becomes_attachment_n() -> None:
    assert attachment_file_name(DOC, "\u202e../", 2, 255) == f"{DOC}-2-attachment-2"


@given(st.text(), st.integers(min_value=1, max_value=999), st.integers(min_value=60, max_value=300))
def test_any_name_becomes_one_plain_file_name_within_the_limit(
    name: str, position: int, limit: int
) -> None:
    result = attachment_file_name(DOC, name, position, limit)
    assert len(result.encode("utf-8")) <= limit
    assert result.startswith(f"{DOC}-{position}-") and len(result) > len(f"{DOC}-{position}-")
    assert "/" not in result and "\\" not in result and "\x00" not in result
    assert not any(unicodedata.category(c) == "Cc" or c in BIDI for c in result)
    assert result not in (".", "..")


@given(st.text(min_size=1), st.sampled_from([".pdf", ".docx", ".xml", ".zip"]))
def test_a_cut_name_keeps_its_extension(stem: str, extension: str) -> None:
    cleaned = clean(stem * 50 + extension)
    if cleaned.endswith(extension) and len(cleaned) > len(extension):
        cut = fit(cleaned, 100)
        assert len(cut.encode("utf-8")) <= 100
        assert cut.endswith(extension)


# ---------------------------------------------------------------- the command


async def _letter_for(client_for, hub_config, db, world, tmp_path, attachments):  # type: ignore[no-untyped-def]
    """A letter from G22 to H41 with `attachments`, sent; returns (url, H41, document id)."""
    g22 = await world.register(db, "000.00.00.G22")
    h41 = await world.register(db, "000.00.00.H41")
    client = await client_for(hub_config)
    url = str(client.make_url("/")).rstrip("/")
    resp = await client.post(
        "/v1/documents", data=world.letter(g22, [h41], attachments=attachments), headers=g22.auth
    )
    assert resp.status == 202, await resp.text()
    return url, h41, (await resp.json())["document_id"]


async def test_fetch_writes_hostile_attachment_names_as_plain_files_inside_the_folder(
    client_for, hub_config, db: asyncpg.Connection, world: World, tmp_path: Path
) -> None:
    # The axis refuses control and bidi characters and names over 255 bytes at ingest (see
    # test_package_rules), so what reaches a recipient is at worst a path, a leading dash, a name
    # that fills the file system's limit once prefixed, or the same name twice.
    attachments = [
        ("../../escaped.pdf", b"%PDF one"),
        ("báo cáo: tháng 10?.pdf", b"%PDF two"),
        ("CON.pdf", b"%PDF three"),
        (FULL_NAME, b"%PDF four"),
        ("-rf", b"five"),
        ("same.pdf", b"%PDF six"),
        ("same.pdf", b"%PDF seven"),
    ]
    url, h41, doc = await _letter_for(client_for, hub_config, db, world, tmp_path, attachments)
    out_dir = tmp_path / "inbox"
    code, out, err = await axis(
        "fetch", doc, "-o", str(out_dir), "--url", url, "--token", h41.token, "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    files = [Path(a["file"]) for a in result["attachments"]]
    assert [f.parent for f in files] == [out_dir] * len(attachments)
    assert [f.read_bytes() for f in files] == [data for _, data in attachments]
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(
        [f"{doc}.xml", *(f.name for f in files)]
    )
    assert not (tmp_path / "escaped.pdf").exists()
    names = [f.name for f in files]
    assert names[0] == f"{doc}-1-escaped.pdf"
    assert names[1] == f"{doc}-2-báo cáo_ tháng 10_.pdf"
    assert names[2].startswith(f"{doc}-3-") and names[2].endswith(".pdf")
    assert len(names[3].encode()) <= 255 and names[3].endswith(".pdf")
    assert names[4] == f"{doc}-5-rf"
    assert names[5] != names[6]  # the same name twice: two files, neither overwritten


async def test_fetch_into_a_path_under_a_file_says_cannot_write_not_cannot_reach(
    client_for, hub_config, db: asyncpg.Connection, world: World, tmp_path: Path
) -> None:
    url, h41, doc = await _letter_for(
        client_for, hub_config, db, world, tmp_path, [("a.pdf", b"%PDF")]
    )
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, _out, err = await axis(
        "fetch", doc, "-o", str(blocker / "inbox"), "--url", url, "--token", h41.token
    )
    assert code != 0
    assert f"cannot write {blocker / 'inbox'}" in err and "Not a directory" in err
    assert "cannot reach" not in err


async def test_a_file_that_cannot_be_written_is_named_and_no_half_file_is_left(
    client_for, hub_config, db: asyncpg.Connection, world: World, tmp_path: Path
) -> None:
    url, h41, doc = await _letter_for(
        client_for, hub_config, db, world, tmp_path, [("a.pdf", b"%PDF")]
    )
    out_dir = tmp_path / "inbox"
    (out_dir / f"{doc}.xml").mkdir(parents=True)  # where the package should go: a folder
    code, _out, err = await axis(
        "fetch", doc, "-o", str(out_dir), "--url", url, "--token", h41.token
    )
    assert code != 0
    assert f"cannot write {out_dir / (doc + '.xml')}" in err and "cannot reach" not in err
    assert sorted(p.name for p in out_dir.iterdir()) == [f"{doc}.xml"]  # no .part left behind


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
async def test_fetch_into_a_read_only_folder_says_cannot_write(
    client_for, hub_config, db: asyncpg.Connection, world: World, tmp_path: Path
) -> None:
    url, h41, doc = await _letter_for(
        client_for, hub_config, db, world, tmp_path, [("a.pdf", b"%PDF")]
    )
    out_dir = tmp_path / "read-only"
    out_dir.mkdir()
    out_dir.chmod(0o500)
    try:
        code, _out, err = await axis(
            "fetch", doc, "-o", str(out_dir), "--url", url, "--token", h41.token
        )
    finally:
        out_dir.chmod(0o700)
    assert code != 0
    assert "cannot write" in err and "Permission denied" in err and "cannot reach" not in err


async def test_an_axis_that_does_not_answer_is_still_cannot_reach(tmp_path: Path) -> None:
    code, _out, err = await axis(
        "fetch", DOC, "-o", str(tmp_path / "in"), "--url", "http://127.0.0.1:9", "--token", "t"
    )
    assert code != 0 and "cannot reach the axis" in err and "cannot write" not in err


async def test_a_document_id_that_is_not_a_uuid_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    code, _out, err = await axis(
        "fetch",
        "../../x",
        "-o",
        str(tmp_path / "in"),
        "--url",
        "http://127.0.0.1:9",
        "--token",
        "t",
    )
    assert code != 0 and "not a document id" in err
    assert not (tmp_path / "in").exists()
