"""Which organ a certificate speaks for, and the check that a signer may sign for the organ a
letter names.

On the axis the registry decides: a certificate whose SHA-256 fingerprint is registered to an
agency signs for that agency, whatever its subject says. Real signing certificates do not reliably
carry the organ id (mã định danh, the edXML `OrganId`, e.g. `000.00.00.G22`): CAs write tax or
budget codes in `UID`, some write the organ id in `OU`, `serialNumber` or a subjectAltName URI
`urn:vn:organ:<code>`, many nowhere. Reading an organ id out of a certificate therefore stays an
extra check only: the places looked at are a setting (`PLACES`), only values with the shape of an
organ id count (so `UID=MST:0100109106`, a tax code, names no organ), a `MDD:` or `MĐĐ:` prefix is
tolerated and stripped, and an organ id found that is not the agency's refuses the letter.

An organ's certificate has the organ's name in both CN and O; a personal certificate (a cabinet
member, a leader) has the person's name in CN and the organ's name in O.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from signing.errors import SignatureError
from signing.keys import fingerprint, normalise_fingerprint

if TYPE_CHECKING:
    from signing.xmldsig import VerifiedSignature

ORGAN_ID_OID = NameOID.USER_ID  # 0.9.2342.19200300.100.1.1, "UID"
ORGAN_URI_PREFIX = "urn:vn:organ:"

#: Where an organ id may be written in a certificate: the setting's name → how messages name it.
PLACES: dict[str, str] = {
    "uid": "UID",
    "ou": "OU",
    "serialnumber": "serialNumber",
    "san-uri": "subjectAltName URI",
}
DEFAULT_PLACES: tuple[str, ...] = ("uid", "ou", "serialnumber", "san-uri")

_ORGAN_ID_SHAPE = re.compile(r"^[0-9A-Za-z]{2,5}(\.[0-9A-Za-z]{2,5}){2,4}$")
_PREFIX = re.compile(r"^(MDD|MĐĐ|MADINHDANH)\s*:\s*", re.I)
_SUBJECT_OIDS = {
    "uid": ORGAN_ID_OID,
    "ou": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "serialnumber": NameOID.SERIAL_NUMBER,
}


def parse_places(text: str) -> tuple[str, ...]:
    """The places of a setting such as `uid,ou,serialNumber,san-uri` (any case), or `none`.

    Raises ValueError naming the bad word and the words allowed."""
    words = [w.strip().lower() for w in text.split(",") if w.strip()]
    if words == ["none"]:
        return ()
    if not words:
        raise ValueError("names no place; use e.g. uid,ou,serialNumber,san-uri, or none")
    unknown = [w for w in words if w not in PLACES]
    if unknown:
        raise ValueError(
            f"{unknown[0]!r} is not a place in a certificate; use uid, ou, serialNumber, "
            "san-uri (comma-separated, any case), or none"
        )
    return tuple(dict.fromkeys(words))


def place_names(places: Iterable[str]) -> list[str]:
    return [PLACES[p] for p in places]


@dataclass(frozen=True)
class OrganCode:
    code: str
    place: str  # as messages name it: "UID", "OU", "serialNumber", "subjectAltName URI"


@dataclass(frozen=True)
class CertificateOrgan:
    """The organ ids a certificate states in the places looked at."""

    found: tuple[OrganCode, ...]
    looked_in: tuple[str, ...]  # place names, in the order looked at

    @property
    def codes(self) -> list[str]:
        return list(dict.fromkeys(f.code for f in self.found))

    @property
    def code(self) -> str | None:
        """The one organ id stated, or None when the certificate states none or several."""
        codes = self.codes
        return codes[0] if len(codes) == 1 else None

    @property
    def conflicting(self) -> bool:
        return len(self.codes) > 1

    def where(self, code: str) -> str:
        return " and ".join(dict.fromkeys(f.place for f in self.found if f.code == code))

    def sentence(self) -> str:
        """What a clerk reads: which organ id the certificate carries and where."""
        if self.code is not None:
            return f"certificate carries organ code {self.code} in {self.where(self.code)}"
        if self.conflicting:
            return "certificate names different organ codes: " + ", ".join(
                f"{c} in {self.where(c)}" for c in self.codes
            )
        looked = ", ".join(self.looked_in) if self.looked_in else "nowhere (the setting is none)"
        return f"certificate carries no organ code (looked in {looked}): on the axis the registry decides"

    def as_dict(self) -> dict[str, Any]:
        return {
            "organ_code": self.code,
            "organ_code_found_in": [{"code": f.code, "place": f.place} for f in self.found],
            "organ_code_looked_in": list(self.looked_in),
            "organ_code_note": self.sentence(),
        }


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    values: list[str] = []
    for attribute in name.get_attributes_for_oid(oid):
        value = attribute.value
        values.append(value.decode("utf-8", "replace") if isinstance(value, bytes) else value)
    return values


def _as_organ_code(value: str) -> str | None:
    candidate = _PREFIX.sub("", value.strip())
    return candidate.upper() if _ORGAN_ID_SHAPE.match(candidate) else None


def _values_in(cert: x509.Certificate, place: str) -> list[str]:
    if place in _SUBJECT_OIDS:
        return _attr(cert.subject, _SUBJECT_OIDS[place])
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [
        uri[len(ORGAN_URI_PREFIX) :]
        for uri in san.get_values_for_type(x509.UniformResourceIdentifier)
        if uri.lower().startswith(ORGAN_URI_PREFIX)
    ]


def organ_codes(cert: x509.Certificate, places: Iterable[str] = DEFAULT_PLACES) -> CertificateOrgan:
    """Every value with the shape of an organ id in the given places, with where it was found."""
    chosen = tuple(places)
    found: list[OrganCode] = []
    for place in chosen:
        for value in _values_in(cert, place):
            code = _as_organ_code(value)
            if code is not None and OrganCode(code, PLACES[place]) not in found:
                found.append(OrganCode(code, PLACES[place]))
    return CertificateOrgan(tuple(found), tuple(place_names(chosen)))


def organ_id_of(cert: x509.Certificate, places: Iterable[str] = DEFAULT_PLACES) -> str | None:
    """The organ id the certificate states, or None when it states none (or several that differ)."""
    return organ_codes(cert, places).code


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


def _who(cert: x509.Certificate) -> str:
    return common_name(cert) or cert.subject.rfc4514_string() or f"serial {cert.serial_number:x}"


def check_certificate_organ(
    cert: x509.Certificate, organ_id: str, places: Iterable[str] = DEFAULT_PLACES
) -> CertificateOrgan:
    """Refuse a certificate that states an organ id other than `organ_id` (or two different ones);
    return what it states. This is the extra check; the registry is the binding."""
    stated = organ_codes(cert, places)
    wanted = organ_id.strip().upper()
    if stated.conflicting:
        raise SignatureError(
            "organ_code_conflict",
            f"the certificate of {_who(cert)} names different organ codes ("
            + ", ".join(f"{c} in {stated.where(c)}" for c in stated.codes)
            + f"); it cannot sign for {organ_id}",
        )
    if stated.code is not None and stated.code != wanted:
        raise SignatureError(
            "signer_not_organ",
            f"the letter claims to come from {organ_id} but the certificate that signed it "
            f"({_who(cert)}) carries organ code {stated.code} in {stated.where(stated.code)}",
        )
    return stated


def bind_signer(
    cert: x509.Certificate,
    organ_id: str,
    registered: Collection[str] | None = None,
    *,
    places: Iterable[str] = DEFAULT_PLACES,
    registered_to_others: Collection[str] = (),
) -> str:
    """Refuse unless `cert` may sign for `organ_id`; return what binds it.

    `registered` is the fingerprints the agency registered (None: there is no registry, as for
    `axis doc verify`); `registered_to_others` the other agencies the certificate is registered
    to. The answer is "registry" (the fingerprint is the agency's), "organ_code" (the agency
    registered no certificate and this one states the agency's organ id) or "organ_code_only"
    (no registry, and the certificate states no other organ id). Refused, in this order: a
    certificate registered to another agency; one that states another organ id, or two different
    ones; an agency's unregistered certificate; and, for an agency that registered none, a
    certificate that states no organ id.
    """
    fp = fingerprint(cert)
    pinned = {normalise_fingerprint(f) for f in registered or ()}
    if registered is not None and fp in pinned:
        check_certificate_organ(cert, organ_id, places)
        return "registry"
    others = sorted(set(registered_to_others) - {organ_id})
    if others:
        raise SignatureError(
            "certificate_of_another_agency",
            f"the letter claims to come from {organ_id} but was signed with the certificate of "
            f"{_who(cert)} (SHA-256 {fp}), which is registered to {', '.join(others)}",
        )
    stated = check_certificate_organ(cert, organ_id, places)
    if registered is None:
        return "organ_code_only"
    if pinned:
        raise SignatureError(
            "certificate_not_registered",
            f"the certificate that signed for {organ_id} ({_who(cert)}, SHA-256 {fp}) is not "
            f"among the certificates registered for {organ_id}; register it with "
            f"`axis agency add-cert {organ_id} CERT` or sign with a registered one",
        )
    if stated.code is None:
        raise SignatureError(
            "certificate_not_registered",
            f"{organ_id} registered no certificate and the one that signed ({_who(cert)}, "
            f"SHA-256 {fp}) carries no organ code (looked in "
            f"{', '.join(stated.looked_in) or 'nowhere'}); register it with "
            f"`axis agency add-cert {organ_id} CERT`",
        )
    return "organ_code"


def check_signer(
    verified: VerifiedSignature,
    organ_id: str,
    fingerprints: Collection[str] | None = None,
    *,
    places: Iterable[str] = DEFAULT_PLACES,
) -> str:
    """`bind_signer` for a verified signature."""
    return bind_signer(verified.certificate, organ_id, fingerprints, places=places)
