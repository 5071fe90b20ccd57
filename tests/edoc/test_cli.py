"""`axis doc inspect`, `axis doc sample` and `axis bench edoc` as a user runs them."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

import edoc
from axis.cli.main import cli
from edoc import sample
from tests.edoc.conftest import FIXTURES, HOSTILE

AXIS = Path(sys.executable).parent / "axis"


def inspect(path: Path) -> dict:
    result = CliRunner().invoke(cli, ["doc", "inspect", "--json", str(path)])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_inspect_reports_sender_recipients_number_and_subject():
    data = inspect(FIXTURES / "letter_all_optional_present.edxml")
    assert data["kind"] == "letter"
    assert data["sender"] == {"organ_id": "000.00.00.G22", "name": "Vụ Kinh tế tổng hợp"}
    assert [r["organ_id"] for r in data["recipients"]] == ["000.00.00.H26", "000.00.00.H29"]
    assert (data["number"], data["notation"]) == ("7816", "VPCP-TTĐT")
    assert data["type"]["name"] == "Công văn"
    assert data["subject"].startswith("V/v triển khai")
    assert (data["promulgation_date"], data["due_date"]) == ("2024-09-30", "2024-10-15")
    assert data["business"]["type"] == 2 and data["business"]["name"] == "update"


def test_inspect_reports_attachment_sha256_and_size():
    expected = (FIXTURES / "letter_base64_linebreaks.expected.bin").read_bytes()
    (att,) = inspect(FIXTURES / "letter_base64_linebreaks.edxml")["attachments"]
    assert att["size"] == len(expected)
    assert att["sha256"] == hashlib.sha256(expected).hexdigest()


def test_inspect_shows_the_file_inside_a_one_entry_zip():
    atts = inspect(FIXTURES / "letter_cid_forms.edxml")["attachments"]
    assert atts[1]["inner_name"] == "Bảng tổng hợp ý kiến.xlsx"


def test_inspect_reads_placeholder_signed_packages():
    assert inspect(FIXTURES / "letter_placeholder_signature.edxml")["signature"] == "placeholder"


def test_inspect_summarises_a_status_receipt():
    data = inspect(FIXTURES / "status_code_1.edxml")
    assert data["kind"] == "status" and data["status_code"] == "01"
    assert data["status"] == {"vi": "đã đến", "en": "arrived"}


def test_inspect_refuses_a_hostile_file_with_one_line_and_exit_1():
    result = subprocess.run(
        [str(AXIS), "doc", "inspect", str(HOSTILE / "billion_laughs.xml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "DTD" in lines[0]


def test_inspect_names_element_and_line_of_an_ambiguous_date():
    path = HOSTILE / "date_ambiguous.xml"
    result = CliRunner().invoke(cli, ["doc", "inspect", str(path)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: {path}: MessageHeader/PromulgationInfo/PromulgationDate: '06/01/25' is "
        "ambiguous: no single four-digit year tells yyyy/MM/dd from dd/MM/yyyy (line 18)"
    ]


def test_inspect_of_a_missing_file_is_one_clear_line():
    result = CliRunner().invoke(cli, ["doc", "inspect", "/nonexistent/letter.edxml"])
    assert result.exit_code == 1
    assert result.output.startswith("error: /nonexistent/letter.edxml: ")


def test_sample_writes_a_letter_that_inspect_reads(tmp_path):
    out = tmp_path / "letter.edxml"
    result = CliRunner().invoke(
        cli,
        ["doc", "sample", "--attachments", "2", "--size", "3KB", "--to", "000.00.00.H26,000.00.00.H29",
         "--kind", "tờ trình", "--seed", "1", "-o", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = inspect(out)
    assert [r["organ_id"] for r in data["recipients"]] == ["000.00.00.H26", "000.00.00.H29"]
    assert [a["size"] for a in data["attachments"]] == [3000, 3000]
    assert data["type"]["name"] == "Tờ trình"


def test_sample_is_dated_now_and_due_in_the_coming_weeks(tmp_path):
    out = tmp_path / "letter.edxml"
    result = CliRunner().invoke(cli, ["doc", "sample", "--seed", "5", "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = inspect(out)
    today = datetime.datetime.now(edoc.VN_TZ).date()
    promulgated = datetime.date.fromisoformat(data["promulgation_date"])
    due = datetime.date.fromisoformat(data["due_date"])
    assert today - datetime.timedelta(days=3) <= promulgated <= today
    # Sent now, it is not overdue on arrival.
    assert today < due <= today + datetime.timedelta(days=20)


def test_sample_to_stdout_is_an_edxml_document():
    result = subprocess.run(
        [str(AXIS), "doc", "sample", "--attachments", "0", "--seed", "2"],
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<edXML ')


def test_sample_status_receipt(tmp_path):
    out = tmp_path / "status.edxml"
    result = CliRunner().invoke(
        cli, ["doc", "sample", "--status", "06", "--seed", "3", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert inspect(out)["status"]["en"] == "done"


def test_bench_edoc_prints_throughput_and_peak_memory():
    result = CliRunner().invoke(cli, ["bench", "edoc", "--sizes", "10KB,2MB", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["package_bytes"] > 0 for r in rows] == [True, True]
    assert all(r["mb_per_s"] > 0 and r["peak_rss_mib"] > 0 for r in rows)


def test_inspect_lists_a_day_first_date_as_a_variant_and_reads_the_right_day():
    data = inspect(FIXTURES / "letter_bkav_date_dd_mm_yyyy.edxml")
    assert (data["promulgation_date"], data["due_date"]) == ("2020-10-30", "2020-11-15")
    assert {"code": "date_dd_mm_yyyy",
            "where": "MessageHeader/PromulgationInfo/PromulgationDate",
            "message": "'30/10/2020' read as 2020-10-30"} in data["variants"]  # fmt: skip
    assert data["problems"] == []


def test_inspect_of_a_canonical_package_lists_no_variant_and_no_problem():
    data = inspect(FIXTURES / "letter_all_optional_present.edxml")
    assert (data["variants"], data["problems"]) == ([], [])


def _letter_with(manifest_ids: list[str], attachment_ids: list[str]) -> bytes:
    letter = sample.make_letter(seed=4, attachments=0)
    files = [
        edoc.Attachment.from_bytes(b"%PDF-1.7\n", name=f"{cid}.pdf", content_id=cid)
        for cid in attachment_ids
    ]
    refs = [edoc.ManifestReference(content_id=cid) for cid in manifest_ids]
    return edoc.build(dataclasses.replace(letter, attachments=files, manifest=refs))


def test_inspect_lists_manifest_problems_prints_the_summary_and_exits_1(tmp_path):
    path = tmp_path / "letter.edxml"
    path.write_bytes(_letter_with(["cv", "phu-luc"], ["cv", "bang-ke", "bang-ke"]))
    result = CliRunner().invoke(cli, ["doc", "inspect", "--json", str(path)])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert [a["content_id"] for a in data["attachments"]] == ["cv", "bang-ke", "bang-ke"]
    assert [(p["code"], p["content_id"]) for p in data["problems"]] == [
        ("duplicate_content_id", "bang-ke"),
        ("reference_without_attachment", "phu-luc"),
        ("attachment_without_reference", "bang-ke"),
    ]


def test_inspect_shows_problems_to_a_person_on_a_terminal(tmp_path, monkeypatch):
    monkeypatch.setattr("axis.cli.output.wants_json", lambda flag: flag)  # as on a terminal
    path = tmp_path / "letter.edxml"
    path.write_bytes(_letter_with(["phu-luc"], []))
    result = CliRunner().invoke(cli, ["doc", "inspect", str(path)])
    assert result.exit_code == 1
    assert (
        "problem      edXMLManifest/Reference[1]/ContentId: the manifest names ContentId "
        "'phu-luc' but no attachment has it"
    ) in result.output.splitlines()


def test_inspect_refuses_an_abbreviation_for_an_organ_id_naming_the_element():
    path = HOSTILE / "organ_id_abbreviation.xml"
    result = CliRunner().invoke(cli, ["doc", "inspect", str(path)])
    assert result.exit_code == 1
    assert result.output.startswith(f"error: {path}: MessageHeader/From/OrganId: 'BTTTT' is not")
