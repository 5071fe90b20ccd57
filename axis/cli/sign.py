"""`axis doc sign` and `axis doc verify`: XML-DSig on edXML files from the command line."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import click

import signing
from axis.cli.output import emit, fail, wants_json
from signing import (
    DEFAULT_PLACES,
    SignatureError,
    TrustStore,
    check_signer,
    describe,
    fingerprint,
    load_certificates,
    load_private_key,
    organ_codes,
    organ_id_of,
    parse_places,
)

#: The signer's key and certificate, as every command that signs takes them.
KEY_OPTION = click.option(
    "--key",
    "key_path",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The signer's private key (PEM or DER).",
)
CERT_OPTION = click.option(
    "--cert",
    "cert_path",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The signer's certificate (PEM or DER); may be followed by its issuers.",
)


@click.command("sign")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@KEY_OPTION
@CERT_OPTION
@click.option(
    "--chain",
    "chain_paths",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Intermediate CA certificates to carry in KeyInfo (repeatable).",
)
@click.option(
    "-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path)
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def sign(
    file: Path,
    key_path: Path,
    cert_path: Path,
    chain_paths: tuple[Path, ...],
    output: Path,
    as_json: bool,
) -> None:
    """Sign an edXML package with an enveloped XML-DSig (RSA-2048+/ECDSA, SHA-256).

    A placeholder <Signature> of the reference SDK is replaced.

    Example: axis doc sign letter.xml --key var/ca/issued/…/key.pem --cert var/ca/issued/…/cert.pem
    -o letter.signed.xml
    """
    try:
        key = load_private_key(key_path)
        chain = load_certificates(cert_path)
        for extra in chain_paths:
            chain += [c for c in load_certificates(extra) if c not in chain]
        signed = signing.sign(file.read_bytes(), key, chain)
        output.write_bytes(signed)
    except SignatureError as exc:
        fail(f"{exc.code}: {exc.message}")
        return
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}")
        return
    emit(
        {
            "output": str(output),
            "signer": describe(chain[0]),
            "organ_id": organ_id_of(chain[0]),
            "fingerprint": fingerprint(chain[0]),
            "bytes": len(signed),
        },
        as_json=as_json,
    )


@click.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--trust",
    "trust_dir",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Folder of trusted CA certificates (and CRLs, there or in crl/).",
)
@click.option(
    "--organ",
    default=None,
    help="Require the signer to be this organ (default: the letter's From/OrganId).",
)
@click.option(
    "--any-signer",
    is_flag=True,
    help="Accept any trusted signer, e.g. the axis's seal on a legacy letter.",
)
@click.option(
    "--fingerprint",
    "fingerprints",
    multiple=True,
    help="Also require one of these certificate SHA-256 fingerprints (repeatable).",
)
@click.option(
    "--at",
    "at",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]),
    default=None,
    help="Judge certificate validity at this moment (UTC) instead of now.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def verify(
    file: Path,
    trust_dir: Path,
    organ: str | None,
    any_signer: bool,
    fingerprints: tuple[str, ...],
    at: datetime | None,
    as_json: bool,
) -> None:
    """Verify the signature of an edXML package: exit 0 with a report, or 1 with the reason.

    The signature must be over the whole unchanged letter, by a certificate chained to a CA in
    the --trust folder, valid and not revoked. There is no registry here: a certificate that
    states an organ id (in the places of AXIS_CERT_ORGAN_FIELDS: UID, OU, serialNumber,
    subjectAltName URI urn:vn:organ:<id> by default) must state the letter's From (or --organ);
    one that states none still verifies, and the report says so; on the axis the registry decides.

    Example: axis doc verify letter.signed.xml --trust var/ca --organ 000.00.00.G22
    """
    try:
        setting = os.environ.get("AXIS_CERT_ORGAN_FIELDS")
        places = parse_places(setting) if setting else DEFAULT_PLACES
    except ValueError as exc:
        fail(f"AXIS_CERT_ORGAN_FIELDS {exc}")
        return
    try:
        trust = TrustStore.from_directory(trust_dir)
        verified = signing.verify(file.read_bytes(), trust, at=at)
        expected = organ or (None if any_signer else signing.sender_of(verified.signed_element))
        if expected is not None:
            check_signer(verified, expected, list(fingerprints) or None, places=places)
        elif fingerprints:
            check_signer(verified, verified.organ_id or "", list(fingerprints), places=places)
    except SignatureError as exc:
        if wants_json(as_json):
            emit({"valid": False, "code": exc.code, "message": exc.message}, as_json=True)
        fail(f"{exc.code}: {exc.message}")
        return
    stated = organ_codes(verified.certificate, places)
    report = {**verified.as_dict(), **stated.as_dict()}
    emit(
        report,
        as_json=as_json,
        text=f"valid: signed by {report['signer']} ({report['subject']})\n"
        f"organ code    {stated.sentence()}\n"
        f"fingerprint   {report['fingerprint']}\n"
        f"signing time  {report['signing_time'] or 'not stated'}\n"
        f"chain         {' → '.join(report['chain'])}",
    )
