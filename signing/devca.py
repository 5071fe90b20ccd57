"""A small certificate authority for development, demos and tests: a root, an issuing CA, organ
and personal certificates that carry the organ id where a real CA might (subject UID by default;
OU, serialNumber, a subjectAltName URI or nowhere on request, see signing.organs), and a CRL.

Layout of a CA directory (point `TrustStore.from_directory` at the directory itself):

    root-ca.pem                 the trust anchor
    crl/root-ca.crl             CRL of the root (revokes issuing CAs; normally empty)
    crl/issuing-ca.crl          CRL of the issuing CA (revoked organ and personal certificates)
    issuing-ca/issuing-ca.pem   the intermediate; it travels in every signature's KeyInfo
    private/*.key               CA keys (0600, in a 0700 folder)
    index.json                  what was issued and revoked
    issued/<name>/key.pem, cert.pem   issued keys (0600) and certificates (signer, then issuer)
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from signing.errors import SignatureError
from signing.keys import (
    PrivateKey,
    fingerprint,
    load_certificates,
    load_private_key,
    write_certificates,
    write_private_key,
)
from signing.organs import ORGAN_ID_OID, ORGAN_URI_PREFIX

KeyType = Literal["rsa", "ec"]
#: Where `issue` writes the organ id, to make certificates like the ones real CAs issue.
OrganIn = Literal["uid", "ou", "serial", "san", "none"]
ORGAN_IN: tuple[str, ...] = ("uid", "ou", "serial", "san", "none")

ROOT_CERT = "root-ca.pem"
ISSUING_CERT = "issuing-ca/issuing-ca.pem"
ROOT_KEY = "private/root-ca.key"
ISSUING_KEY = "private/issuing-ca.key"
ROOT_CRL = "crl/root-ca.crl"
ISSUING_CRL = "crl/issuing-ca.crl"
INDEX = "index.json"

# CA certificates start long ago so that tests and demos can issue certificates that expired
# while their CA was valid (a chain is checked as of the signing time too).
CA_BACKDATE = timedelta(days=3 * 365)

_REASONS = {r.value: r for r in x509.ReasonFlags} | {r.name: r for r in x509.ReasonFlags}


def new_key(key_type: KeyType = "rsa", key_size: int = 2048) -> PrivateKey:
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    raise SignatureError("ca_error", f"unknown key type {key_type!r} (rsa or ec)")


def _slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    plain = plain.encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Za-z0-9.]+", "-", plain).strip("-").lower() or "cert"


@dataclass(frozen=True)
class IssuedCertificate:
    key_path: Path
    cert_path: Path
    certificate: x509.Certificate
    chain: list[x509.Certificate]
    organ_id: str
    name: str
    person: str | None
    serial: int
    fingerprint: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "organ_id": self.organ_id,
            "name": self.name,
            "person": self.person,
            "key": str(self.key_path),
            "certificate": str(self.cert_path),
            "serial": format(self.serial, "x"),
            "fingerprint": self.fingerprint,
            "not_before": self.certificate.not_valid_before_utc.isoformat(),
            "not_after": self.certificate.not_valid_after_utc.isoformat(),
        }


class DevCA:
    """A root and an issuing CA kept in one directory. Not for production keys."""

    def __init__(
        self,
        directory: Path,
        root_cert: x509.Certificate,
        root_key: PrivateKey,
        issuing_cert: x509.Certificate,
        issuing_key: PrivateKey,
    ) -> None:
        self.directory = directory
        self.root_cert = root_cert
        self.root_key = root_key
        self.issuing_cert = issuing_cert
        self.issuing_key = issuing_key

    # -- creation ---------------------------------------------------------------------------

    @classmethod
    def init(
        cls,
        directory: str | os.PathLike[str],
        name: str = "Axis Development CA",
        *,
        key_type: KeyType = "rsa",
    ) -> DevCA:
        folder = Path(directory)
        if (folder / INDEX).exists() or (folder / ROOT_CERT).exists():
            raise SignatureError("ca_error", f"{folder} already holds a CA")
        now = datetime.now(UTC)
        root_key = new_key(key_type)
        root_name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Axis development"),
                x509.NameAttribute(NameOID.COMMON_NAME, name),
            ]
        )
        root = (
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CA_BACKDATE)
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(_ca_usage(), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False
            )
            .sign(root_key, hashes.SHA256())
        )
        issuing_key = new_key(key_type)
        issuing_name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Axis development"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{name} - issuing CA"),
            ]
        )
        issuing = (
            x509.CertificateBuilder()
            .subject_name(issuing_name)
            .issuer_name(root_name)
            .public_key(issuing_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CA_BACKDATE)
            .not_valid_after(now + timedelta(days=1825))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_ca_usage(), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(issuing_key.public_key()),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                critical=False,
            )
            .sign(root_key, hashes.SHA256())
        )
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "private").mkdir(mode=0o700, exist_ok=True)
        os.chmod(folder / "private", 0o700)
        write_private_key(folder / ROOT_KEY, root_key)
        write_private_key(folder / ISSUING_KEY, issuing_key)
        write_certificates(folder / ROOT_CERT, [root])
        write_certificates(folder / ISSUING_CERT, [issuing])
        ca = cls(folder, root, root_key, issuing, issuing_key)
        ca._write_index({"name": name, "issued": []})
        ca.crl()
        return ca

    @classmethod
    def open(cls, directory: str | os.PathLike[str]) -> DevCA:
        folder = Path(directory)
        if not (folder / INDEX).is_file():
            raise SignatureError("ca_error", f"{folder} is not a development CA (no {INDEX})")
        return cls(
            folder,
            load_certificates(folder / ROOT_CERT)[0],
            load_private_key(folder / ROOT_KEY),
            load_certificates(folder / ISSUING_CERT)[0],
            load_private_key(folder / ISSUING_KEY),
        )

    @property
    def root_path(self) -> Path:
        return self.directory / ROOT_CERT

    # -- issuing ----------------------------------------------------------------------------

    def issue(
        self,
        organ_id: str,
        name: str,
        *,
        person: bool | str = False,
        days: int = 730,
        key_type: KeyType = "rsa",
        out_dir: str | os.PathLike[str] | None = None,
        not_before: datetime | None = None,
        key_size: int = 2048,
        digital_signature: bool = True,
        organ_in: OrganIn = "uid",
        uid: str | None = None,
    ) -> IssuedCertificate:
        """Issue a signing certificate for an organ, or for a person of that organ.

        `name` is the organ's name. For a personal certificate pass the person's name as
        `person="Nguyễn Văn A"` (CN = the person, O = the organ); `person=True` takes `name` as
        the person's name when the organ's name is unknown. `not_before`, `key_size` and
        `digital_signature=False` exist to make bad certificates for tests.

        `organ_in` says where the organ id goes, as real CAs do it: the subject's `uid` (the
        default), `ou`, `serial` (serialNumber), `san` (a subjectAltName URI
        `urn:vn:organ:<id>`) or `none`. `uid` is free text for another subject UID, e.g. a tax
        code `MST:0100109106`.
        """
        organ_id = organ_id.strip()
        if not organ_id:
            raise SignatureError("ca_error", "an organ id is required")
        if organ_in not in ORGAN_IN:
            raise SignatureError(
                "ca_error", f"the organ id goes in {', '.join(ORGAN_IN)}, not {organ_in!r}"
            )
        if isinstance(person, str) and person:
            cn, org, who = person, name, person
        elif person is True:
            cn, org, who = name, organ_id, name
        else:
            cn, org, who = name, name, None
        start = not_before or datetime.now(UTC) - timedelta(minutes=5)
        key = new_key(key_type, key_size)
        attributes = [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        ]
        if organ_in == "ou":
            attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, organ_id))
        if uid:
            attributes.append(x509.NameAttribute(ORGAN_ID_OID, uid.strip()))
        if organ_in == "uid":
            attributes.append(x509.NameAttribute(ORGAN_ID_OID, organ_id))
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
        if organ_in == "serial":
            attributes.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, organ_id))
        subject = x509.Name(attributes)
        usage = x509.KeyUsage(
            digital_signature=digital_signature,
            content_commitment=digital_signature,
            key_encipherment=not digital_signature,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=False,
            crl_sign=False,
            encipher_only=False,
            decipher_only=False,
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.issuing_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.issuing_key.public_key()),
                critical=False,
            )
        )
        if organ_in == "san":
            uri = x509.UniformResourceIdentifier(f"{ORGAN_URI_PREFIX}{organ_id}")
            builder = builder.add_extension(x509.SubjectAlternativeName([uri]), critical=False)
        cert = builder.sign(self.issuing_key, hashes.SHA256())
        folder = (
            Path(out_dir)
            if out_dir is not None
            else self.directory
            / "issued"
            / f"{_slug(organ_id)}{'-' + _slug(who) if who else ''}-{cert.serial_number:x}"[:80]
        )
        key_path, cert_path = folder / "key.pem", folder / "cert.pem"
        write_private_key(key_path, key)
        chain = [cert, self.issuing_cert]
        write_certificates(cert_path, chain)
        index = self._read_index()
        index["issued"].append(
            {
                "serial": format(cert.serial_number, "x"),
                "organ_id": organ_id,
                "name": name,
                "person": who,
                "certificate": str(cert_path),
                "key": str(key_path),
                "not_after": cert.not_valid_after_utc.isoformat(),
                "revoked_at": None,
                "reason": None,
            }
        )
        self._write_index(index)
        return IssuedCertificate(
            key_path=key_path,
            cert_path=cert_path,
            certificate=cert,
            chain=chain,
            organ_id=organ_id,
            name=name,
            person=who,
            serial=cert.serial_number,
            fingerprint=fingerprint(cert),
        )

    # -- revocation -------------------------------------------------------------------------

    def revoke(
        self,
        cert_path_or_serial: str | int | os.PathLike[str],
        *,
        reason: str = "unspecified",
        when: datetime | None = None,
    ) -> int:
        """Revoke a certificate this CA issued (by its file or serial) and rewrite the CRL."""
        serial = self._serial_of(cert_path_or_serial)
        if reason not in _REASONS:
            raise SignatureError(
                "ca_error",
                f"unknown reason {reason!r}; one of {', '.join(r.name for r in x509.ReasonFlags)}",
            )
        index = self._read_index()
        for entry in index["issued"]:
            if int(entry["serial"], 16) == serial:
                moment = when or datetime.now(UTC) - timedelta(seconds=1)
                entry["revoked_at"] = entry["revoked_at"] or moment.isoformat()
                entry["reason"] = _REASONS[reason].value
                break
        else:
            raise SignatureError(
                "ca_error", f"this CA issued no certificate with serial {serial:x}"
            )
        self._write_index(index)
        self.crl()
        return serial

    def crl(self, *, days: int = 7) -> Path:
        """Write both CRLs into the CA directory; return the issuing CA's CRL path."""
        now = datetime.now(UTC)
        revoked: list[x509.RevokedCertificate] = []
        for entry in self._read_index()["issued"]:
            if not entry["revoked_at"]:
                continue
            builder = (
                x509.RevokedCertificateBuilder()
                .serial_number(int(entry["serial"], 16))
                .revocation_date(datetime.fromisoformat(entry["revoked_at"]))
            )
            reason = _REASONS.get(entry.get("reason") or "unspecified")
            if reason is not None and reason is not x509.ReasonFlags.unspecified:
                builder = builder.add_extension(x509.CRLReason(reason), critical=False)
            revoked.append(builder.build())
        issuing_path = self.directory / ISSUING_CRL
        _write_crl(issuing_path, self.issuing_cert, self.issuing_key, revoked, now, days)
        _write_crl(self.directory / ROOT_CRL, self.root_cert, self.root_key, [], now, days)
        return issuing_path

    # -- internals --------------------------------------------------------------------------

    def _serial_of(self, value: str | int | os.PathLike[str]) -> int:
        if isinstance(value, int):
            return value
        text = os.fspath(value)
        if Path(text).is_file():
            cert = load_certificates(text)[0]
            if cert.issuer != self.issuing_cert.subject:
                raise SignatureError("ca_error", f"{text} was not issued by this CA")
            return cert.serial_number
        try:
            return int(text.replace(":", ""), 16)
        except ValueError:
            raise SignatureError(
                "ca_error", f"{text} is neither a certificate file nor a hexadecimal serial"
            ) from None

    def _read_index(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((self.directory / INDEX).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise SignatureError("ca_error", f"cannot read {self.directory / INDEX}") from exc
        return data

    def _write_index(self, data: dict[str, Any]) -> None:
        target = self.directory / INDEX
        temporary = target.with_suffix(".tmp")
        temporary.write_text(json.dumps(data, ensure_ascii=False, indent=2), "utf-8")
        temporary.replace(target)


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _write_crl(
    path: Path,
    issuer: x509.Certificate,
    key: PrivateKey,
    revoked: list[x509.RevokedCertificate],
    now: datetime,
    days: int,
) -> None:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(now - timedelta(minutes=1))
        .next_update(now + timedelta(days=days))
    )
    for entry in revoked:
        builder = builder.add_revoked_certificate(entry)
    crl = builder.sign(key, hashes.SHA256())
    from cryptography.hazmat.primitives import serialization

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
