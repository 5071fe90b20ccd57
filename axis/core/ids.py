"""UUIDv7 ids (RFC 9562): time-ordered, so new rows land at the end of their indexes."""

from __future__ import annotations

import os
import time
import uuid


def uuid7() -> uuid.UUID:
    ms = time.time_ns() // 1_000_000
    rand_a = int.from_bytes(os.urandom(2), "big") & 0xFFF
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return uuid.UUID(int=value)


def parse_id(value: str, what: str) -> uuid.UUID:
    """An id from a URL or a field; one that is not a UUID names nothing, so it is not found."""
    from axis.core.errors import NotFound

    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"no {what} {value!r}", where=what) from None
