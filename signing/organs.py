"""Which organ a certificate speaks for, and the check that a signer is the organ a letter names.

The organ id (the edXML `OrganId`, e.g. `000.00.00.G22`) is carried in the certificate's subject
as the `UID` attribute (OID 0.9.2342.19200300.100.1.1), exactly as it appears in edXML. This is
the attribute Vietnamese CAs already put in subjects for identifiers (commonly `UID=MST:…` for a
tax code), so a CA can add the organ id without a new extension. An organ's certificate has the
organ's name in both CN and O; a personal certificate (a cabinet member, a leader) has the
person's name in CN, the organ's name in O and the organ's id in UID. When a subject carries
several UIDs, the one that has the shape of an organ id wins; a `MDD:` or `MĐĐ:` prefix
(mã định danh) is tolerated and stripped.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.x509.oid import NameOID

from signing.errors import SignatureError
from signing.keys import fingerprint, normalise_fingerprint

if TYPE_CHECKING:
    from signing.xmldsig import VerifiedSignature

ORGAN_ID_OID = NameOID.USER_ID  # 0.9.2342.19200300.100.1.1, "UID"

_ORGAN_ID_SHAPE = re.compile(r"^[0-9A-Za-z]{2,5}(\.[0-9A-Za-z]{2,5}){2,4}$")
_PREFIX = re.compile(r"^(MDD|MĐĐ|MADINHDANH)\s*:\s*", re.I)


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    values: list[str] = []
    for attribute in name.get_attributes_for_oid(oid):
        value = attribute.value
        values.append(value.decode("utf-8", "replace") if isinstance(value, bytes) else value)
    return values


def organ_id_of(cert: x509.Certificate) -> str | None:
    """The organ id in the subject's UID attribute, or None when the certificate carries none."""
    candidates = [_PREFIX.sub("", v.strip()) for v in _attr(cert.subject, ORGAN_ID_OID)]
    candidates = [c for c in candidates if c]
    for candidate in candidates:
        if _ORGAN_ID_SHAPE.match(candidate):
            return candidate
    return None


def common_name(cert: x509.Certificate) -> str | None:
    names = _attr(cert.subject, NameOID.COMMON_NAME)
    return names[0] if names else None


def organisation(cert: x509.Certificate) -> str | None:
    names = _attr(cert.subject, NameOID.ORGANIZATION_NAME)
    return names[0] if names else None


def is_personal(cert: x509.Certificate) -> bool:
    """A person's certificate: CN names someone other than the organisation in O."""
    cn, org = common_name(cert), organisation(cert)
    return cn is not None and org is not None and cn != org and organ_id_of(cert) is not None


def describe(cert: x509.Certificate) -> str:
    """How a clerk recognises a certificate in a message: the organ id, or a person and organ."""
    organ = organ_id_of(cert)
    cn = common_name(cert)
    if organ is not None:
        return f"{cn} ({organ})" if is_personal(cert) else organ
    if cn:
        return cn
    return cert.subject.rfc4514_string() or f"serial {cert.serial_number:x}"


def check_signer(
    verified: VerifiedSignature,
    organ_id: str,
    fingerprints: Collection[str] | None = None,
) -> None:
    """Refuse unless the verified signer speaks for `organ_id` (and, when the agency registered
    certificate fingerprints, is one of them)."""
    signer = verified.certificate
    actual = organ_id_of(signer)
    if actual is None or actual.upper() != organ_id.strip().upper():
        whose = f"organ {actual}" if actual else "no organ (no UID in its subject)"
        raise SignatureError(
            "signer_not_organ",
            f"the letter claims to come from {organ_id} but was signed with the certificate of "
            f"{whose} ({common_name(signer) or signer.subject.rfc4514_string()})",
        )
    if fingerprints is not None:
        registered = {normalise_fingerprint(f) for f in fingerprints}
        if fingerprint(signer) not in registered:
            raise SignatureError(
                "certificate_not_registered",
                f"the certificate that signed for {organ_id} (SHA-256 {fingerprint(signer)}) is not "
                "among the certificates registered for this agency; register it or sign with a "
                "registered one",
            )
