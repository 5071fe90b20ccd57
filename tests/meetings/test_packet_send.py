"""The papers' bytes for packet ZIPs from a blob store without local files (S3/MinIO, here moto's
S3 server over real HTTP): the CRC-32 is taken by one verified read and remembered, and a download
streams the verified bytes; a blob corrupted in the bucket is refused."""

from __future__ import annotations

import io
import os
import zlib

import pytest

from meetings.packet_send import PaperBytes
from storage.blobs import BlobCorrupt, open_blob_store
from storage.blobs_s3 import S3BlobStore
from tests.storage.conftest import MotoS3, moto_s3, s3_bucket  # noqa: F401


class _Collect:
    """Stands for the HTTP response: keeps what is written to it."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    async def write(self, data: bytes) -> None:
        self.parts.append(bytes(data))


async def test_papers_from_s3_have_their_crc_and_stream_whole(
    moto_s3: MotoS3,  # noqa: F811
    s3_bucket: str,  # noqa: F811
) -> None:
    blobs = open_blob_store(moto_s3.url(s3_bucket))
    try:
        data = os.urandom((2 << 20) + 123)
        ref = await blobs.put(data)
        source = PaperBytes(blobs)
        assert source.files is None  # no local file to hand to the kernel
        crc = await source.crc32(ref.sha256, len(data))
        assert crc == zlib.crc32(data)
        out = _Collect()
        await source.send(None, out, ref.sha256, len(data), crc)  # type: ignore[arg-type]
        assert b"".join(out.parts) == data

        with pytest.raises(BlobCorrupt):  # the manifest's size and the stored bytes disagree
            await PaperBytes(blobs).crc32(ref.sha256, len(data) + 1)

        # Rewritten in the bucket: a fresh process (no CRC remembered) refuses it.
        bad = data[:-1] + bytes([data[-1] ^ 1])
        moto_s3.client().put_object(
            s3_bucket, S3BlobStore.key_of(ref.sha256), io.BytesIO(bad), len(bad)
        )
        with pytest.raises(BlobCorrupt):
            await PaperBytes(blobs).crc32(ref.sha256, len(data))
        with pytest.raises(BlobCorrupt):  # and a download that remembered the CRC still checks
            await source.send(None, _Collect(), ref.sha256, len(data), crc)  # type: ignore[arg-type]
    finally:
        await blobs.close()
