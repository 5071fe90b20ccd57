"""The wire rules of VDXP, pure: how the SDK signs its headers, how answers look, and the small
formats (timestamp, unpadded hash-file). Used by the server and by the Python client alike."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

PREFIX = "XroadVnpt-"
USER_AGENT = "JAVASDKAgent/1.0.0 XRoad/VPCP"
VERSION = "3.0.201608"
SIGN_HEADER = PREFIX + "sign-header"
SIGN_HEADER_KEY = PREFIX + "sign-header-key"
HASH_HEADER = PREFIX + "hash-header"
#: Headers the SDK adds after signing; never part of the signed JSON.
UNSIGNED = frozenset(
    n.lower() for n in (SIGN_HEADER, SIGN_HEADER_KEY, HASH_HEADER, PREFIX + "version")
)

# ErrorCode values of a FAIL answer (any non-zero string is a failure to the SDK).
AUTH_FAILED = "1"
BAD_REQUEST = "2"
NOT_FOUND = "3"
FORBIDDEN = "4"
CONFLICT = "5"
REFUSED = "6"
UNAVAILABLE = "99"


class VdxpRefused(Exception):
    """A call refused in VDXP terms: a non-zero ErrorCode and an unaccented ASCII ErrorDesc."""

    def __init__(self, error_code: str, desc: str, axis_code: str | None = None) -> None:
        super().__init__(desc)
        self.error_code = error_code
        self.desc = ascii_text(desc)
        self.axis_code = axis_code


_EXTRA = str.maketrans({"đ": "d", "Đ": "D", "→": "->", "…": "...", "–": "-", "—": "-"})


def ascii_text(text: str) -> str:
    """Vietnamese without accents, and nothing but printable ASCII (the SDK reads US-ASCII)."""
    plain = unicodedata.normalize("NFKD", text.translate(_EXTRA))
    out = "".join(c for c in plain if not unicodedata.combining(c))
    return "".join(c if " " <= c <= "~" else "?" for c in out)


def ok(**extra: Any) -> dict[str, Any]:
    return {"status": "OK", "ErrorCode": "0", "ErrorDesc": "Thanh cong", **extra}


def failure(refused: VdxpRefused, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "FAIL",
        "ErrorCode": refused.error_code,
        "ErrorDesc": refused.desc,
        **extra,
    }
    if refused.axis_code:
        body["axisCode"] = refused.axis_code
    return body


def dumps(body: Mapping[str, Any]) -> bytes:
    """JSON in pure ASCII: names and titles travel as \\u escapes that every JSON reader decodes."""
    return json.dumps(body, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def sdk_timestamp(moment: datetime) -> str:
    """Java's ddMMyyyy'T'HHmmss+SSSS: the last four digits are milliseconds, zero-padded."""
    return moment.strftime("%d%m%YT%H%M%S") + f"+{moment.microsecond // 1000:04d}"


def unpadded_hex(digest: bytes) -> str:
    """Each byte as hex without zero padding (0x09 is '9'), as the SDK writes hash-file."""
    return "".join(f"{b:x}" for b in digest)


def hash_file(data: bytes) -> str:
    return unpadded_hex(hashlib.sha256(data).digest())


def hmac_hex(secret: str, sign_header: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), sign_header, hashlib.sha256).hexdigest()


def sign_header_json(pairs: Iterable[tuple[str, str]]) -> str:
    """Compact JSON as Gson writes a JsonObject: no spaces, non-ASCII left as is."""
    return json.dumps(dict(pairs), ensure_ascii=False, separators=(",", ":"))


def signed_headers(params: Sequence[tuple[str, str]], secret: str) -> list[tuple[str, str]]:
    """The headers the SDK sends for `params` (bare names, in the SDK's map order, `systemid`,
    `timestamp` and `Content-Type` among them): each as XroadVnpt-<name>, `Content-Type` also bare,
    then the signature headers, the User-Agent and the version."""
    headers: list[tuple[str, str]] = []
    for name, value in params:
        if name == "Content-Type":
            headers.append((name, value))
        headers.append((PREFIX + name, value))
    text = sign_header_json((PREFIX + n, v) for n, v in params)
    headers += [
        (SIGN_HEADER_KEY, ";".join(n for n, _ in params)),
        (SIGN_HEADER, text),
        (HASH_HEADER, hmac_hex(secret, text.encode("utf-8"))),
        ("User-Agent", USER_AGENT),
        (PREFIX + "version", VERSION),
    ]
    return headers


@dataclass(frozen=True)
class SignedRequest:
    """What a request claims: its system, the signed JSON as transmitted and the HMAC over it."""

    systemid: str
    sign_header: bytes
    hash_header: str
    signed: list[tuple[str, str]]  # (full header name, value) in the JSON's order

    def params(self) -> dict[str, str]:
        """Signed parameters by their exact-case bare name (`docId` and `docid` stay apart)."""
        return {k.removeprefix(PREFIX): v for k, v in self.signed}


def _raw(received: Sequence[tuple[str, str]], name: str) -> list[str]:
    lname = name.lower()
    return [v for n, v in received if n.lower() == lname]


#: The largest sign-header taken apart. The SDK's, with every parameter leaked from earlier calls,
#: is well under 2 KiB; aiohttp itself refuses any header over 8190 bytes before this is reached.
MAX_SIGN_HEADER = 16 * 1024
FLAT = "sign-header must be a flat JSON object of strings"
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')


class _Pairs(list[tuple[str, Any]]):
    """A JSON object's members in order (so a top-level array is told apart from an object)."""


def _flat_object(text: str) -> list[tuple[str, str]]:
    """The members of a JSON object whose values are all strings; anything else is refused. Nesting
    is refused before parsing: a flat object has no bracket or brace outside its strings, and a
    deeply nested one would otherwise reach the parser's recursion limit."""
    if "[" in text or text.count("{") > 1:
        # Brackets inside string values are legal: look again with the strings taken out.
        bare = _STRINGS.sub('""', text)
        if "[" in bare or bare.count("{") > 1:
            raise VdxpRefused(AUTH_FAILED, FLAT)
    try:
        pairs = json.loads(text, object_pairs_hook=_Pairs)
    except (ValueError, RecursionError):
        raise VdxpRefused(AUTH_FAILED, "XroadVnpt-sign-header khong phai JSON") from None
    if not isinstance(pairs, _Pairs) or not all(isinstance(v, str) for _, v in pairs):
        raise VdxpRefused(AUTH_FAILED, FLAT)
    return list(pairs)


def read_signed(received: Sequence[tuple[str, str]]) -> SignedRequest:
    """Take the signature headers apart; refuses what is missing or malformed (before any lookup)."""
    systemids = _raw(received, PREFIX + "systemid")
    if not systemids or not systemids[0].strip():
        raise VdxpRefused(AUTH_FAILED, "Thieu XroadVnpt-systemid")
    texts = _raw(received, SIGN_HEADER)
    hashes = _raw(received, HASH_HEADER)
    if len(texts) != 1 or len(hashes) != 1:
        raise VdxpRefused(AUTH_FAILED, "Thieu XroadVnpt-sign-header hoac XroadVnpt-hash-header")
    # aiohttp decodes header bytes as UTF-8 with surrogateescape: this gives back the bytes sent.
    raw_text = texts[0].encode("utf-8", "surrogateescape")
    if len(raw_text) > MAX_SIGN_HEADER:
        raise VdxpRefused(
            AUTH_FAILED,
            f"XroadVnpt-sign-header qua lon: {len(raw_text)} byte, toi da {MAX_SIGN_HEADER}",
        )
    try:
        text = raw_text.decode("utf-8")
    except UnicodeDecodeError:
        raise VdxpRefused(AUTH_FAILED, "XroadVnpt-sign-header khong phai UTF-8") from None
    return SignedRequest(systemids[0].strip(), raw_text, hashes[0].strip(), _flat_object(text))


def check_signature(
    request: SignedRequest, secret: str, received: Sequence[tuple[str, str]]
) -> None:
    """The SDK's check: HMAC of the sign-header as transmitted, then every signed header compared
    with the one received. A name signed twice in different case (HttpURLConnection keeps one of
    them) is satisfied by either value; extra unsigned headers are ignored, never read."""
    expected = hmac_hex(secret, request.sign_header)
    if not hmac.compare_digest(expected, request.hash_header.lower()):
        raise VdxpRefused(AUTH_FAILED, "Chu ky XroadVnpt-hash-header khong dung")
    groups: dict[str, list[str]] = {}
    for key, value in request.signed:
        name = key if key.lower().startswith(PREFIX.lower()) else PREFIX + key
        groups.setdefault(name.lower(), []).append(value)
    for lname, values in groups.items():
        if lname in UNSIGNED:
            continue
        got = _raw(received, lname)
        # Signed once: sent once with that value. Signed twice in different case: either value.
        good = got == values if len(values) == 1 else bool(got) and all(v in values for v in got)
        if not good:
            raise VdxpRefused(AUTH_FAILED, f"Header {lname} khong khop voi header da ky")
    signed_id = groups.get((PREFIX + "systemid").lower())
    if signed_id is None or request.systemid not in signed_id:
        raise VdxpRefused(AUTH_FAILED, "XroadVnpt-systemid khong nam trong header da ky")
