"""Attachment names made safe to write on a recipient's disk: a name comes from the sender's
package, so it may hold path separators, `..`, control or bidi characters, or be far too long."""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

# Bidirectional formatting characters: they make "gpj.exe" show as "exe.jpg" (CVE-2021-42574 style).
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Characters Windows refuses in a name, the path separators among them.
_RESERVED_CHARS = frozenset('<>:"/\\|?*')
_WINDOWS_DEVICES = re.compile(r"^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$", re.IGNORECASE)
_LONGEST_EXTENSION = 16  # bytes, the dot included: ".pdf", ".docx", ".tar.gz"'s ".gz"
DEFAULT_NAME_MAX = 255


def name_max(folder: Path) -> int:
    """The longest file name, in bytes, the filesystem of `folder` takes."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return DEFAULT_NAME_MAX


def _allowed(char: str) -> bool:
    category = unicodedata.category(char)
    return not (char in _BIDI or category in ("Cc", "Zl", "Zp") or char == "\ufeff")


def clean(name: str | None) -> str:
    """`name` with nothing that could leave the folder, hide the file or disguise its type:
    control (C0, C1) and bidi characters removed, separators and Windows-reserved characters
    replaced by `_`, no leading dots or dashes, no trailing dots or spaces, no device name.
    May be empty."""
    text = unicodedata.normalize("NFC", name or "")
    text = "".join(
        " " if c.isspace() else ("_" if c in _RESERVED_CHARS else c)
        for c in text
        if c.isspace() or _allowed(c)
    )
    text = " ".join(text.split())  # tabs and runs of spaces become one space
    text = text.lstrip(".-_ ").rstrip(". ")
    if _WINDOWS_DEVICES.match(text):
        text = "_" + text
    return text


def _cut(text: str, limit: int) -> str:
    """The longest start of `text` that is at most `limit` bytes of UTF-8, cut between characters."""
    return text.encode("utf-8")[: max(limit, 0)].decode("utf-8", "ignore")


def fit(name: str, limit: int) -> str:
    """`name` cut to `limit` bytes of UTF-8, keeping its extension when it has a short one."""
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, dot, extension = name.rpartition(".")
    suffix = dot + extension
    if not stem or len(suffix.encode("utf-8")) > min(_LONGEST_EXTENSION, limit // 2):
        return _cut(name, limit).rstrip(". ")
    return _cut(stem, limit - len(suffix.encode("utf-8"))).rstrip(". ") + suffix


def attachment_file_name(prefix: str, name: str | None, position: int, limit: int) -> str:
    """The file name for attachment `position`: `prefix-position-name`, the name cleaned (or
    `attachment-N` when nothing is left) and the whole within `limit` bytes. The position makes
    two attachments with the same name two files."""
    head = f"{prefix}-{position}-"
    cleaned = clean(name) or f"attachment-{position}"
    return head + (fit(cleaned, limit - len(head.encode("utf-8"))) or f"attachment-{position}")
