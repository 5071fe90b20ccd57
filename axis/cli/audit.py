"""`axis audit verify` and `axis audit check-proof`: check the tamper-evident audit log."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import click

from axis.cli.output import emit, fail


@click.group()
def audit() -> None:
    """Check the audit log: every event of every letter, chained by hashes and sealed.

    \b
    Examples:
      axis audit verify                       recompute the chain in AXIS_DATABASE_URL
      axis audit check-proof proof.json --seal-cert seal.crt
      axis audit check-proof seal.json --package status.xml --seal-cert seal.crt
    """


def _load_cert(path: str) -> Any:
    import signing

    try:
        return signing.load_certificates(path)[0]
    except (OSError, ValueError, IndexError, signing.SignatureError) as exc:
        fail(f"cannot read the seal certificate {path}: {getattr(exc, 'message', exc)}")


@audit.command()
@click.option(
    "--seal-cert",
    type=click.Path(dir_okay=False),
    help="The axis's seal certificate (default: seal.crt in AXIS_SEAL_DIR, when it exists).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def verify(seal_cert: str | None, as_json: bool) -> None:
    """Recompute the whole audit chain and check every sealed checkpoint.

    Exit 0 when the chain is intact; exit 1 naming the first entry that was edited, inserted,
    deleted or moved, or the checkpoint that does not hold.

    Example: AXIS_DATABASE_URL=postgresql://axis@db/axis axis audit verify
    """
    import asyncpg

    from axis.cli.main import load_config
    from axis.core import audit as audit_log

    cfg = load_config()
    if seal_cert is None and (cfg.seal_dir / "seal.crt").is_file():
        seal_cert = str(cfg.seal_dir / "seal.crt")
    cert = _load_cert(seal_cert) if seal_cert else None

    async def run() -> audit_log.VerifyReport:
        conn = await asyncpg.connect(cfg.database_url)
        try:
            return await audit_log.verify(conn, cert)
        finally:
            await conn.close()

    try:
        report = asyncio.run(run())
    except (OSError, asyncpg.PostgresError) as exc:
        fail(f"cannot read the audit log at AXIS_DATABASE_URL: {exc}")
    if report.ok:
        emit(report.to_json(), as_json=as_json, text=report.summary())
        return
    if as_json:
        emit(report.to_json(), as_json=True)
    fail(report.summary())


@audit.command("check-proof")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--seal-cert",
    type=click.Path(exists=True, dir_okay=False),
    help="The axis's seal certificate; without it the seal is checked against the certificate "
    "the proof carries, which shows the proof unaltered but not who sealed it.",
)
@click.option(
    "--package",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="For a status seal: the status package (GET /v1/documents/{id}), to check its bytes too.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def check_proof(file: Path, seal_cert: str | None, package: Path | None, as_json: bool) -> None:
    """Check offline a proof: no database, no network.

    FILE is a letter's audit proof (GET /v1/documents/{id}/proof), or the batch seal of a status
    01 (GET /v1/documents/{status id}/seal), checked with the status package given as --package.
    Exit 0 when it holds; exit 1 with the reason.

    \b
    Examples:
      axis audit check-proof proof.json --seal-cert axis-seal.crt
      axis audit check-proof seal.json --package status.xml --seal-cert axis-seal.crt
    """
    from dataclasses import asdict

    from axis.core import audit_proof

    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        fail(f"{file} is not a JSON proof: {exc}")
    cert = _load_cert(seal_cert) if seal_cert else None
    if isinstance(doc, dict) and doc.get("type") == audit_proof.STATUS_SEAL_TYPE:
        try:
            data = package.read_bytes() if package is not None else None
        except OSError as exc:
            fail(f"cannot read the package {package}: {exc}")
        result = audit_proof.check_status_seal(doc, data, cert)
    elif package is not None:
        fail("--package goes with a status seal (GET /v1/documents/{id}/seal), not an audit proof")
    else:
        result = audit_proof.check_proof(doc, cert)
    if result.ok:
        emit(asdict(result), as_json=as_json, text=result.message)
        return
    if as_json:
        emit(asdict(result), as_json=True)
    fail(result.message)
