"""`axis ca`: a development certificate authority that issues organ and personal certificates."""

from __future__ import annotations

from pathlib import Path

import click

from axis.cli.output import emit, fail
from signing import SignatureError, organ_codes
from signing.devca import ORGAN_IN, DevCA, OrganIn


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def ca() -> None:
    """A development CA for demos and tests (never for production keys).

    \b
    Examples:
      axis ca init var/ca
      axis ca issue var/ca --organ 000.00.00.G22 --name "Bộ Thông tin và Truyền thông"
      axis ca issue var/ca --organ 000.00.00.G22 --name "Bộ Thông tin và Truyền thông" \\
          --person "Nguyễn Văn A"
      axis ca revoke var/ca var/ca/issued/000.00.00.g22-…/cert.pem
      axis doc verify letter.signed.xml --trust var/ca
    """


@ca.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--name", default="Axis Development CA", show_default=True, help="The root CA's name."
)
@click.option("--key-type", type=click.Choice(["rsa", "ec"]), default="rsa", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def init_cmd(directory: Path, name: str, key_type: str, as_json: bool) -> None:
    """Create a root and an issuing CA in DIRECTORY (which then serves as a trust directory).

    Example: axis ca init var/ca --name "Axis Development CA"
    """
    try:
        authority = DevCA.init(directory, name=name, key_type="ec" if key_type == "ec" else "rsa")
    except SignatureError as exc:
        fail(exc.message)
        return
    emit(
        {
            "directory": str(directory),
            "root_certificate": str(authority.root_path),
            "trust_directory": str(directory),
            "crl": str(authority.crl()),
        },
        as_json=as_json,
    )


@ca.command("issue")
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--organ", "organ_id", required=True, help="The organ id, e.g. 000.00.00.G22.")
@click.option("--name", required=True, help="The organ's name.")
@click.option("--person", default=None, help="Issue a personal certificate for this person.")
@click.option(
    "--organ-in",
    type=click.Choice(ORGAN_IN),
    default="uid",
    show_default=True,
    help="Where the organ id goes: subject UID, OU, serialNumber, a subjectAltName URI "
    "urn:vn:organ:<id>, or nowhere (as many real certificates).",
)
@click.option(
    "--uid",
    default=None,
    help="Free text for another subject UID, e.g. a tax code MST:0100109106.",
)
@click.option("--days", default=730, show_default=True, type=click.IntRange(min=1))
@click.option("--key-type", type=click.Choice(["rsa", "ec"]), default="rsa", show_default=True)
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write key.pem and cert.pem (default: DIRECTORY/issued/…).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def issue_cmd(
    directory: Path,
    organ_id: str,
    name: str,
    person: str | None,
    organ_in: OrganIn,
    uid: str | None,
    days: int,
    key_type: str,
    out_dir: Path | None,
    as_json: bool,
) -> None:
    """Issue a signing certificate for an organ (or, with --person, for one of its people).

    The organ id goes into the subject's UID attribute, or where --organ-in says; cert.pem holds
    the certificate followed by the issuing CA, ready for `axis doc sign --cert`.

    \b
    Examples:
      axis ca issue var/ca --organ 000.00.00.G22 --name "Bộ Thông tin và Truyền thông"
      axis ca issue var/ca --organ 000.00.00.G22 --name "Bộ Thông tin và Truyền thông" \\
          --organ-in none --uid MST:0100109106
    """
    try:
        issued = DevCA.open(directory).issue(
            organ_id,
            name,
            person=person or False,
            organ_in=organ_in,
            uid=uid,
            days=days,
            key_type="ec" if key_type == "ec" else "rsa",
            out_dir=out_dir,
        )
    except SignatureError as exc:
        fail(exc.message)
        return
    stated = organ_codes(issued.certificate)
    emit(
        {**issued.as_dict(), **stated.as_dict()},
        as_json=as_json,
        text=f"key          {issued.key_path}\ncertificate  {issued.cert_path}\n"
        f"fingerprint  {issued.fingerprint}\norgan code   {stated.sentence()}",
    )


@ca.command("revoke")
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("cert")
@click.option(
    "--reason",
    default="unspecified",
    show_default=True,
    help="A CRL reason, e.g. key_compromise, superseded, cessation_of_operation.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def revoke_cmd(directory: Path, cert: str, reason: str, as_json: bool) -> None:
    """Revoke CERT (a certificate file or a hexadecimal serial) and rewrite the CRL.

    Example: axis ca revoke var/ca var/ca/issued/000.00.00.g22-1a2b…/cert.pem --reason superseded
    """
    try:
        authority = DevCA.open(directory)
        serial = authority.revoke(cert, reason=reason)
    except SignatureError as exc:
        fail(exc.message)
        return
    emit(
        {"revoked": format(serial, "x"), "crl": str(directory / "crl" / "issuing-ca.crl")},
        as_json=as_json,
    )


@ca.command("crl")
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def crl_cmd(directory: Path, as_json: bool) -> None:
    """Rewrite the CRLs (do it before they expire, after a week).

    Example: axis ca crl var/ca
    """
    try:
        path = DevCA.open(directory).crl()
    except SignatureError as exc:
        fail(exc.message)
        return
    emit({"crl": str(path)}, as_json=as_json)
