"""Files the secretariat uploads for papers: streamed into the blob store, never whole in memory,
and registered so a paper can name them by SHA-256."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from meetings import axis_port as ax


class TooLarge(ax.AxisError):
    code = "too_large"
    status = 413


async def store(
    hub: ax.Hub, person_id: uuid.UUID, chunks: AsyncIterator[bytes]
) -> tuple[dict[str, Any], bool]:
    """{"sha256", "size"} and whether this upload registered the file (False: it was known)."""
    ref = await hub.blobs.put(chunks)
    if ref.size == 0:
        raise ax.BadRequest("the body is empty; send the file's bytes as the body", where="body")
    async with hub.db.connection() as conn:
        created = await register(conn, ref.sha256, ref.size, person_id)
    return {"sha256": ref.sha256, "size": ref.size}, created


async def register(conn: asyncpg.Connection, sha256: str, size: int, person_id: uuid.UUID) -> bool:
    """Make stored bytes nameable by papers; False when they already were."""
    created = await conn.fetchval(
        """INSERT INTO cabinet_files (sha256, size, uploaded_by) VALUES ($1, $2, $3)
           ON CONFLICT (sha256) DO NOTHING RETURNING true""",
        sha256,
        size,
        person_id,
    )
    return bool(created)


async def known(conn: asyncpg.Connection, sha256: object, where: str) -> int:
    """The size of an uploaded file; 422 when no file has this SHA-256."""
    if not isinstance(sha256, str):
        raise ax.BadRequest(f"{where} must be the SHA-256 of an uploaded file", where=where)
    size = await conn.fetchval("SELECT size FROM cabinet_files WHERE sha256 = $1", sha256.lower())
    if size is None:
        raise ax.Unprocessable(
            f"no file {sha256!r} was uploaded; POST it to /v1/cabinet/files first", where=where
        )
    return int(size)
