"""Large attachments stream through parse into a sink with bounded memory."""

from __future__ import annotations

import hashlib
import io
import tracemalloc

import edoc
from edoc import sample

SIZE = 50 * 1024 * 1024


class HashingSink:
    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return len(data)


def test_50_mb_attachment_streams_into_the_sink_with_bounded_memory(tmp_path):
    letter = sample.make_letter(attachments=1, size=SIZE, seed=11, with_data=False)
    path = tmp_path / "big.edxml"
    with path.open("wb") as out:
        edoc.write(letter, out, attachment_source=sample.open_filler)
    expected = hashlib.sha256()
    reader = sample.open_filler(letter.attachments[0])
    while chunk := reader.read(1 << 20):
        expected.update(chunk)

    sinks: list[tuple[edoc.Attachment, HashingSink]] = []

    def sink(attachment: edoc.Attachment) -> HashingSink:
        target = HashingSink()
        sinks.append((attachment, target))
        return target

    tracemalloc.start()
    try:
        with path.open("rb") as stream:
            package = edoc.parse(stream, attachment_sink=sink)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    (att,) = package.attachments
    assert att.size == SIZE and att.data is None
    assert att.sha256 == expected.hexdigest() == sinks[0][1].digest.hexdigest()
    assert sinks[0][1].size == SIZE
    assert sinks[0][0].content_id == att.content_id  # the sink learns which attachment it gets
    # A memory bound, not a timing: the 67 MB document never sits whole in memory.
    assert peak < 16 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


def test_without_a_sink_attachment_bytes_are_kept_in_memory():
    letter = sample.make_letter(attachments=2, size=70_000, seed=12)
    package = edoc.parse(io.BytesIO(edoc.build(letter)))
    assert [a.data for a in package.attachments] == [a.data for a in letter.attachments]
    assert all(a.size == 70_000 for a in package.attachments)


def test_write_streams_attachments_from_a_source_to_the_same_bytes_as_build():
    small = sample.make_letter(attachments=2, size=5000, seed=13)
    sources = {a.content_id: a.data for a in small.attachments}
    hollow = edoc.Package(
        header=small.header,
        trace=small.trace,
        manifest=small.manifest,
        attachments=[
            edoc.Attachment(
                content_id=a.content_id,
                name=a.name,
                content_type=a.content_type,
                description=a.description,
                size=a.size,
                sha256=a.sha256,
            )
            for a in small.attachments
        ],
    )
    out = io.BytesIO()
    edoc.write(hollow, out, attachment_source=lambda a: io.BytesIO(sources[a.content_id] or b""))
    assert out.getvalue() == edoc.build(small)
