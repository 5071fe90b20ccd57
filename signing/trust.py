"""The trust store: which CAs the axis believes, and the checks a signer's certificate must pass.

A chain is built from the signer's certificate through the intermediates the signature carries in
KeyInfo (or that the store holds) up to a trusted certificate. Every certificate of the chain must
be valid both when the letter says it was signed and now (or at the time asked), use a strong key
and signature algorithm, and be absent from its issuer's CRL; the signer's own certificate must
allow digital signatures. Revocation is soft-fail: with no CRL from an issuer, nothing is revoked.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes

from signing.errors import SignatureError
from signing.keys import check_key_strength, fingerprint, parse_certificates, parse_crls
from signing.organs import describe

VIETNAM = timezone(timedelta(hours=7), "ICT")
MAX_CHAIN = 8
SIGNING_TIME_GRACE = timedelta(days=1)
CERT_SUFFIXES = frozenset({".pem", ".crt", ".cer", ".der"})
CRL_SUFFIXES = frozenset({".crl", ".pem"})
_WEAK_HASHES = frozenset({"md5", "sha1", "sha224"})


def local_date(moment: datetime) -> str:
    """A date as a clerk in Vietnam reads it."""
    return moment.astimezone(VIETNAM).strftime("%Y-%m-%d")


def local_dates(first: datetime, second: datetime) -> tuple[str, str]:
    """Two moments as a clerk reads them: dates, or date and time (Vietnam time) when both fall on
    the same day, so that a message never says "valid from 2026-12-02, not on 2026-12-02"."""
    if local_date(first) != local_date(second):
        return local_date(first), local_date(second)

    def clock(moment: datetime) -> str:
        return moment.astimezone(VIETNAM).strftime("%Y-%m-%d %H:%M:%S (UTC+7)")

    return clock(first), clock(second)


def aware(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.now(UTC)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class TrustStore:
    """Trusted certificates (anchors), extra intermediates, and CRLs.

    Every certificate handed to the store as an anchor is trusted as the end of a chain; usually
    these are root CAs, but pinning a single certificate (e.g. the axis's self-signed seal) works
    the same way.
    """

    def __init__(
        self,
        anchors: Iterable[x509.Certificate],
        crls: Iterable[x509.CertificateRevocationList] = (),
        intermediates: Iterable[x509.Certificate] = (),
    ) -> None:
        self.anchors: list[x509.Certificate] = list(anchors)
        self.crls: list[x509.CertificateRevocationList] = list(crls)
        self.intermediates: list[x509.Certificate] = list(intermediates)
        self._anchor_prints = {fingerprint(c) for c in self.anchors}
        self._anchor_keys = {(c.subject, _spki(c)) for c in self.anchors}
        # Public-key operations whose answer never changes: a certificate issued by another, a
        # CRL signed by an issuer. Only successes are kept, and the cache is bounded.
        self._verified: set[tuple[str, str]] = set()

    @classmethod
    def from_directory(cls, path: str | os.PathLike[str]) -> TrustStore:
        """CA certificates from *.pem, *.crt, *.cer, *.der and CRLs from *.crl (and CRL blocks in
        *.pem), in the folder itself and in its `crl/` subfolder. Only CA or self-signed
        certificates become anchors: an organ's certificate dropped in the folder by mistake must
        not become trusted on its own, outside its CA's revocation. Keys and other files are
        ignored."""
        folder = Path(path)
        if not folder.is_dir():
            raise SignatureError("io_error", f"trust directory {folder} does not exist")
        anchors: list[x509.Certificate] = []
        crls: list[x509.CertificateRevocationList] = []
        files = sorted(p for p in folder.iterdir() if p.is_file())
        crl_dir = folder / "crl"
        if crl_dir.is_dir():
            files += sorted(p for p in crl_dir.iterdir() if p.is_file())
        for file in files:
            suffix = file.suffix.lower()
            if suffix not in CERT_SUFFIXES | CRL_SUFFIXES:
                continue
            try:
                data = file.read_bytes()
            except OSError as exc:
                raise SignatureError("io_error", f"cannot read {file}: {exc.strerror}") from exc
            if suffix == ".crl" or b"-----BEGIN X509 CRL" in data:
                crls.extend(parse_crls(data, str(file)))
            if suffix in CERT_SUFFIXES and file.parent == folder:
                if b"-----BEGIN" in data and b"-----BEGIN CERTIFICATE" not in data:
                    continue  # a key or a CRL-only PEM
                anchors.extend(c for c in parse_certificates(data, str(file)) if _anchor_like(c))
        return cls(anchors, crls)

    # -- chain building ---------------------------------------------------------------------

    def is_anchor(self, cert: x509.Certificate) -> bool:
        return fingerprint(cert) in self._anchor_prints or (cert.subject, _spki(cert)) in (
            self._anchor_keys
        )

    def build_chain(
        self, cert: x509.Certificate, supplied: Sequence[x509.Certificate] = ()
    ) -> list[x509.Certificate]:
        """[signer, intermediates…, trusted anchor] or SignatureError."""
        path = [cert]
        pool = [c for c in [*supplied, *self.intermediates] if c != cert]
        current = cert
        for _ in range(MAX_CHAIN):
            if self.is_anchor(current):
                return path
            anchor = self._issuer_among(current, self.anchors)
            if anchor is not None:
                return [*path, anchor]
            issuer = self._issuer_among(current, [c for c in pool if c not in path])
            if issuer is None:
                if current.issuer == current.subject:
                    raise SignatureError(
                        "untrusted_root",
                        f"the certificate of {describe(cert)} leads to the root "
                        f"'{current.subject.rfc4514_string()}', which the axis does not trust; "
                        "a certificate from a CA in the trust store is needed",
                    )
                named = any(c.subject == current.issuer for c in [*pool, *self.anchors])
                problem = (
                    "is named, but its signature on the certificate does not verify (was the "
                    "certificate altered?)"
                    if named
                    else "is neither in the signature nor in the trust store"
                )
                raise SignatureError(
                    "untrusted_chain",
                    f"no trusted chain for the certificate of {describe(cert)}: its issuer "
                    f"'{current.issuer.rfc4514_string()}' {problem}",
                )
            path.append(issuer)
            current = issuer
        raise SignatureError(
            "untrusted_chain", f"the chain of {describe(cert)} is longer than {MAX_CHAIN}"
        )

    # -- checks -----------------------------------------------------------------------------

    def validate(
        self,
        cert: x509.Certificate,
        chain: Sequence[x509.Certificate] = (),
        at: datetime | None = None,
        *,
        signing_time: datetime | None = None,
    ) -> list[x509.Certificate]:
        """Check `cert` (with the `chain` it came with) and return the chain that was built."""
        now = aware(at)
        check_key_strength(cert.public_key(), _whose(cert))
        path = self.build_chain(cert, chain)
        for index, link in enumerate(path):
            check_key_strength(link.public_key(), _whose(link))
            if index + 1 < len(path) or not self.is_anchor(link):
                _check_signature_hash(link)
        moments = [("now" if at is None else "at", now)]
        if signing_time is not None:
            moments.insert(0, ("signed", aware(signing_time)))
        for link in path:
            for label, moment in moments:
                _check_validity(link, label, moment, signer=link is cert)
        _check_key_usage(cert)
        for depth, issuer in enumerate(path[1:]):
            _check_ca(issuer, below=depth)
        for child, issuer in itertools.pairwise(path):
            self._check_revocation(child, issuer, now)
        return path

    def check(
        self,
        cert: x509.Certificate,
        chain: Sequence[x509.Certificate] = (),
        at: datetime | None = None,
        *,
        signing_time: datetime | None = None,
    ) -> None:
        """Raise SignatureError unless `cert` is trusted at `at` (default now)."""
        self.validate(cert, chain, at, signing_time=signing_time)

    def _remember(self, key: tuple[str, str]) -> None:
        if len(self._verified) > 4096:
            self._verified.clear()
        self._verified.add(key)

    def _issuer_among(
        self, cert: x509.Certificate, candidates: Iterable[x509.Certificate]
    ) -> x509.Certificate | None:
        wanted = cert.issuer
        for candidate in candidates:
            if candidate.subject != wanted:
                continue
            key = (fingerprint(cert), fingerprint(candidate))
            if key in self._verified:
                return candidate
            try:
                cert.verify_directly_issued_by(candidate)
            except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
                continue
            self._remember(key)
            return candidate
        return None

    def _crl_signed_by(self, crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
        key = (hashlib.sha256(crl.tbs_certlist_bytes).hexdigest(), fingerprint(issuer))
        if key in self._verified:
            return True
        try:
            valid = crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
        except (TypeError, UnsupportedAlgorithm):
            valid = False
        if valid:
            self._remember(key)
        return valid

    def _check_revocation(
        self, cert: x509.Certificate, issuer: x509.Certificate, now: datetime
    ) -> None:
        for crl in self.crls:
            if crl.issuer != issuer.subject:
                continue
            if not self._crl_signed_by(crl, issuer):
                continue
            entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
            if entry is None or entry.revocation_date_utc > now:
                continue
            reason = ""
            try:
                ext = entry.extensions.get_extension_for_class(x509.CRLReason)
                reason = f" (reason: {ext.value.reason.value})"
            except x509.ExtensionNotFound:
                pass
            raise SignatureError(
                "certificate_revoked",
                f"the certificate of {describe(cert)} was revoked on "
                f"{local_date(entry.revocation_date_utc)}{reason}; the agency must sign with a "
                "new certificate",
            )


def _anchor_like(cert: x509.Certificate) -> bool:
    if cert.subject == cert.issuer:
        return True
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _whose(cert: x509.Certificate) -> Callable[[], str]:
    return lambda: f"the certificate of {describe(cert)}"


def _spki(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _check_signature_hash(cert: x509.Certificate) -> None:
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        algorithm = None
    name = algorithm.name if isinstance(algorithm, hashes.HashAlgorithm) else None
    if name is None or name in _WEAK_HASHES:
        raise SignatureError(
            "weak_algorithm",
            f"the certificate of {describe(cert)} is signed with {name or 'an unknown hash'}; "
            "the CA must reissue it with SHA-256 or stronger",
        )


def _check_validity(cert: x509.Certificate, label: str, moment: datetime, *, signer: bool) -> None:
    """Now (or at the moment asked): the whole validity window. At the stated signing time: only
    expiry. The stated time is the sender's TraceHeader stamp, written before the letter is
    signed (the signature covers it), so it bounds the signing from below: a stamp after the
    certificate expired proves a signature made with an expired certificate, but a stamp before
    the certificate began proves nothing (letters are drafted, then signed). The stamp comes
    from clocks, and sometimes time zones, that are not ours, hence a day's grace."""
    stated = label == "signed"
    grace = SIGNING_TIME_GRACE if stated else timedelta(0)
    expired = moment - grace > cert.not_valid_after_utc
    early = not stated and moment < cert.not_valid_before_utc
    if not (expired or early):
        return
    who = f"certificate of {describe(cert)}" if signer else f"CA certificate {describe(cert)}"
    bound = cert.not_valid_after_utc if expired else cert.not_valid_before_utc
    bound_text, moment_text = local_dates(bound, moment)
    when = f"when the letter was signed ({moment_text})" if stated else f"now ({moment_text})"
    if label == "at":
        when = f"at {moment_text}"
    if expired:
        raise SignatureError(
            "certificate_expired", f"{who} expired on {bound_text} and was not valid {when}"
        )
    raise SignatureError(
        "certificate_not_yet_valid", f"{who} is valid only from {bound_text}, not {when}"
    )


def _check_key_usage(cert: x509.Certificate) -> None:
    # nonRepudiation (content commitment) alone is accepted too: qualified document-signing
    # certificates are often issued with only that bit.
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is None or not (usage.digital_signature or usage.content_commitment):
        raise SignatureError(
            "key_usage",
            f"the certificate of {describe(cert)} does not allow digital signatures "
            "(key usage); use the agency's signing certificate",
        )


def _check_ca(cert: x509.Certificate, *, below: int) -> None:
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise SignatureError(
            "untrusted_chain",
            f"'{cert.subject.rfc4514_string()}' issued a certificate but is not a CA",
        )
    if constraints.path_length is not None and below > constraints.path_length:
        raise SignatureError(
            "untrusted_chain",
            f"CA '{cert.subject.rfc4514_string()}' may not have {below} CAs below it",
        )
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not usage.key_cert_sign:
        raise SignatureError(
            "untrusted_chain",
            f"CA '{cert.subject.rfc4514_string()}' is not allowed to sign certificates",
        )
