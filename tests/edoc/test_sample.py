"""Sample letters and receipts look like real Vietnamese official documents and read back."""

from __future__ import annotations

import pytest

import edoc
from edoc import BussinessDocType, sample


@pytest.mark.parametrize("kind", list(sample.KINDS))
def test_sample_letter_of_each_kind_reads_back_and_passes_our_xsd(kind):
    letter = sample.make_letter(kind=kind, attachments=2, size=2000, seed=21)
    written = edoc.build(letter)
    edoc.validate_written(written)
    assert edoc.parse(written) == letter
    assert isinstance(letter.header, edoc.MessageHeader)
    assert letter.header.document_type.type_name == kind[0].upper() + kind[1:]
    edoc.DocumentNumber.of(letter.header.code.number, letter.header.code.notation)


def test_same_seed_gives_the_same_letter():
    assert edoc.build(sample.make_letter(seed=5)) == edoc.build(sample.make_letter(seed=5))


def test_sample_letter_has_vietnamese_with_diacritics():
    letter = sample.make_letter(seed=1, to_organs=["000.00.00.H29", "000.00.00.G12"])
    header = letter.header
    assert isinstance(header, edoc.MessageHeader)
    assert any(ch in header.subject for ch in "ăâđêôơưạảấầẩẫậắằẳẵặ")
    assert [t.organ_id for t in header.to] == ["000.00.00.H29", "000.00.00.G12"]
    assert header.document_id.startswith("000.00.00.G22,")


def test_third_attachment_is_a_one_entry_zip_like_the_reference_writer_sends():
    letter = sample.make_letter(seed=2, attachments=3, size=1000)
    zipped = edoc.parse(edoc.build(letter)).attachments[2]
    assert zipped.content_type == "application/zip"
    assert zipped.inner_name is not None and zipped.inner_name.endswith(".xlsx")


def test_recall_and_replace_samples_refer_to_the_original():
    original = sample.make_letter(
        seed=3, attachments=0, to_organs=["000.00.00.H26", "000.00.00.H38"]
    )
    recall = sample.make_letter(
        seed=4, attachments=0, doc_type=BussinessDocType.RECALL, original=original
    )
    replace = sample.make_letter(
        seed=4, attachments=0, doc_type=BussinessDocType.REPLACE, original=original
    )
    assert isinstance(original.header, edoc.MessageHeader)
    assert isinstance(recall.header, edoc.MessageHeader)
    assert recall.header.document_id == original.header.document_id
    assert recall.header.response_for[0].document_id == original.header.document_id
    assert replace.trace is not None and replace.trace.bussiness is not None
    info = replace.trace.bussiness.replacement_info_list[0]
    assert info.organ_ids == ["000.00.00.H26", "000.00.00.H38"]
    for package in (recall, replace):
        assert edoc.parse(edoc.build(package)) == package


@pytest.mark.parametrize("code", list(edoc.StatusCode), ids=lambda c: c.code)
def test_sample_status_for_each_code_reads_back(code):
    status = sample.make_status(code=code, seed=9)
    assert edoc.parse(edoc.build(status)) == status
