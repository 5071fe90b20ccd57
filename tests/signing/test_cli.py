"""`axis ca …`, `axis doc sign`, `axis doc verify` and `axis bench signing` as a clerk runs them."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from axis.cli.main import cli
from tests.signing.support import G22, H10, letter

ORGAN_NAME = "Bộ Thông tin và Truyền thông"


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def ok(*args: str | Path) -> Any:
    result = run(*args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def ca_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cli") / "ca"
    report = ok("ca", "init", directory, "--name", "CLI Test CA")
    assert Path(report["root_certificate"]).is_file()
    return directory


@pytest.fixture(scope="module")
def g22(ca_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("g22")
    issued: dict[str, Any] = ok(
        "ca", "issue", ca_dir, "--organ", G22, "--name", ORGAN_NAME, "-o", out
    )
    return issued


def signed_file(tmp_path: Path, issued: dict[str, Any], **kwargs: Any) -> Path:
    source = tmp_path / "letter.xml"
    source.write_bytes(letter(**kwargs))
    target = tmp_path / "letter.signed.xml"
    ok("doc", "sign", source, "--key", issued["key"], "--cert", issued["certificate"], "-o", target)
    return target


def test_ca_issue_prints_key_and_certificate_paths(g22: dict[str, Any]) -> None:
    assert g22["organ_id"] == G22
    assert Path(g22["key"]).is_file() and Path(g22["certificate"]).is_file()
    assert len(g22["fingerprint"]) == 64


def test_doc_verify_reports_a_signed_letter_as_valid(
    tmp_path: Path, ca_dir: Path, g22: dict[str, Any]
) -> None:
    report = ok("doc", "verify", signed_file(tmp_path, g22), "--trust", ca_dir)
    assert report["valid"] is True
    assert report["organ_id"] == G22
    assert report["fingerprint"] == g22["fingerprint"]
    assert len(report["chain"]) == 3


def test_doc_verify_exits_1_naming_the_reason_when_the_attachment_changed(
    tmp_path: Path, ca_dir: Path, g22: dict[str, Any]
) -> None:
    signed = signed_file(tmp_path, g22, attachment=b"original scan")
    data = signed.read_bytes().replace(
        base64.b64encode(b"original scan"), base64.b64encode(b"doctored scan")
    )
    signed.write_bytes(data)
    result = run("doc", "verify", signed, "--trust", ca_dir)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["code"] == "digest_mismatch"
    assert "digest_mismatch" in result.stderr


def test_doc_verify_refuses_a_letter_whose_from_is_not_the_signer(
    tmp_path: Path, ca_dir: Path, g22: dict[str, Any]
) -> None:
    signed = signed_file(tmp_path, g22, sender=H10)
    result = run("doc", "verify", signed, "--trust", ca_dir)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["code"] == "signer_not_organ"
    assert run("doc", "verify", signed, "--trust", ca_dir, "--any-signer").exit_code == 0


def test_doc_verify_with_organ_refuses_another_organs_letter(
    tmp_path: Path, ca_dir: Path, g22: dict[str, Any]
) -> None:
    signed = signed_file(tmp_path, g22)
    result = run("doc", "verify", signed, "--trust", ca_dir, "--organ", H10)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["code"] == "signer_not_organ"


def test_doc_verify_refuses_an_unsigned_letter(tmp_path: Path, ca_dir: Path) -> None:
    unsigned = tmp_path / "unsigned.xml"
    unsigned.write_bytes(letter(placeholder=True))
    result = run("doc", "verify", unsigned, "--trust", ca_dir)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["code"] == "placeholder_signature"


def test_ca_revoke_makes_verify_report_the_revocation(tmp_path: Path, ca_dir: Path) -> None:
    issued = ok("ca", "issue", ca_dir, "--organ", G22, "--name", ORGAN_NAME, "--key-type", "ec")
    signed = signed_file(tmp_path, issued)
    assert run("doc", "verify", signed, "--trust", ca_dir).exit_code == 0
    revoked = ok("ca", "revoke", ca_dir, issued["certificate"], "--reason", "key_compromise")
    assert revoked["revoked"] == issued["serial"]
    result = run("doc", "verify", signed, "--trust", ca_dir)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["code"] == "certificate_revoked"


def test_ca_issue_person_names_the_person_and_keeps_the_organ(tmp_path: Path, ca_dir: Path) -> None:
    issued = ok(
        "ca", "issue", ca_dir, "--organ", G22, "--name", ORGAN_NAME, "--person", "Nguyễn Văn A"
    )
    assert issued["person"] == "Nguyễn Văn A"
    report = ok("doc", "verify", signed_file(tmp_path, issued), "--trust", ca_dir)
    assert report["organ_id"] == G22
    assert report["signer"] == f"Nguyễn Văn A ({G22})"


def test_ca_issue_on_a_folder_without_a_ca_fails_clearly(tmp_path: Path) -> None:
    result = run("ca", "issue", tmp_path, "--organ", G22, "--name", ORGAN_NAME)
    assert result.exit_code == 1
    assert "not a development CA" in result.stderr


def test_bench_signing_prints_figures_beside_the_bare_rsa_baseline() -> None:
    report = ok("bench", "signing", "--seconds", "0.05")
    assert report["baseline_rsa2048"]["sign_per_s"] > 0
    assert [row["package"] for row in report["packages"]] == ["10 KB", "1 MB"]


def test_installed_axis_command_signs_and_verifies(
    tmp_path: Path, ca_dir: Path, g22: dict[str, Any]
) -> None:
    axis = Path(sys.executable).parent / "axis"
    source = tmp_path / "letter.xml"
    source.write_bytes(letter())
    target = tmp_path / "signed.xml"
    signing = subprocess.run(
        [
            axis,
            "doc",
            "sign",
            source,
            "--key",
            g22["key"],
            "--cert",
            g22["certificate"],
            "-o",
            target,
        ],
        capture_output=True,
        check=False,
    )
    assert signing.returncode == 0, signing.stderr
    good = subprocess.run(
        [axis, "doc", "verify", target, "--trust", ca_dir], capture_output=True, check=False
    )
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["valid"] is True
    target.write_bytes(target.read_bytes().replace("triển khai".encode(), b"huy bo"))
    bad = subprocess.run(
        [axis, "doc", "verify", target, "--trust", ca_dir], capture_output=True, check=False
    )
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["code"] == "digest_mismatch"


@pytest.mark.parametrize(
    ("organ_in", "place"),
    [("uid", "UID"), ("ou", "OU"), ("serial", "serialNumber"), ("san", "subjectAltName URI")],
)
def test_ca_issue_writes_the_organ_code_where_asked_and_verify_reports_where_it_is(
    tmp_path: Path, ca_dir: Path, organ_in: str, place: str
) -> None:
    issued = ok(
        "ca", "issue", ca_dir, "--organ", G22, "--name", ORGAN_NAME, "--organ-in", organ_in,
        "--uid", "MST:0100109106", "--key-type", "ec",
    )  # fmt: skip
    assert issued["organ_code_found_in"] == [{"code": G22, "place": place}]
    report = ok("doc", "verify", signed_file(tmp_path, issued), "--trust", ca_dir)
    assert report["organ_code"] == G22
    assert report["organ_code_note"] == f"certificate carries organ code {G22} in {place}"
    assert (
        run("doc", "verify", signed_file(tmp_path, issued, sender=H10), "--trust", ca_dir).exit_code
        == 1
    )


def test_doc_verify_accepts_a_certificate_without_organ_code_and_says_the_registry_decides(
    tmp_path: Path, ca_dir: Path
) -> None:
    issued = ok(
        "ca", "issue", ca_dir, "--organ", G22, "--name", ORGAN_NAME, "--organ-in", "none",
        "--uid", "MST:0100109106", "--key-type", "ec",
    )  # fmt: skip
    assert issued["organ_code"] is None
    report = ok("doc", "verify", signed_file(tmp_path, issued), "--trust", ca_dir)
    assert report["valid"] is True and report["organ_code"] is None
    assert "UID=MST:0100109106" in report["subject"]
    assert report["organ_code_looked_in"] == ["UID", "OU", "serialNumber", "subjectAltName URI"]
    assert report["organ_code_note"] == (
        "certificate carries no organ code (looked in UID, OU, serialNumber, subjectAltName URI): "
        "on the axis the registry decides"
    )


def test_doc_verify_refuses_a_certificate_naming_another_organ_in_ou(
    tmp_path: Path, ca_dir: Path
) -> None:
    issued = ok(
        "ca", "issue", ca_dir, "--organ", H10, "--name", ORGAN_NAME, "--organ-in", "ou",
        "--key-type", "ec",
    )  # fmt: skip
    result = run("doc", "verify", signed_file(tmp_path, issued, sender=G22), "--trust", ca_dir)
    assert result.exit_code == 1
    refusal = json.loads(result.stdout)
    assert refusal["code"] == "signer_not_organ"
    assert G22 in refusal["message"] and f"{H10} in OU" in refusal["message"]
    # Not looking in OU, the same certificate states no organ id and verifies.
    narrowed = CliRunner().invoke(
        cli,
        ["doc", "verify", str(signed_file(tmp_path, issued, sender=G22)), "--trust", str(ca_dir)],
        env={"AXIS_CERT_ORGAN_FIELDS": "uid"},
    )
    assert narrowed.exit_code == 0, narrowed.output
    assert json.loads(narrowed.stdout)["organ_code_looked_in"] == ["UID"]
    bad = CliRunner().invoke(
        cli, ["doc", "verify", str(signed_file(tmp_path, issued)), "--trust", str(ca_dir)],
        env={"AXIS_CERT_ORGAN_FIELDS": "uid,cn"},
    )  # fmt: skip
    assert bad.exit_code == 1 and "AXIS_CERT_ORGAN_FIELDS 'cn' is not a place" in bad.stderr
