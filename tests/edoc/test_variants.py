"""Every variant of edXML that real senders write is read into the same model."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

import pytest

import edoc
from edoc import BussinessDocType, SignatureKind, StatusCode
from tests.edoc.conftest import FIXTURES

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\nT\xc3\xa0i li\xe1\xbb\x87u m\xe1\xba\xabu\n"


def read(name: str) -> edoc.Package:
    return edoc.parse((FIXTURES / name).read_bytes())


def letter(package: edoc.Package) -> edoc.MessageHeader:
    assert isinstance(package.header, edoc.MessageHeader)
    return package.header


def test_every_optional_element_present_is_read_into_the_model():
    p = read("letter_all_optional_present.edxml")
    h = letter(p)
    assert p.is_letter and not p.is_status
    assert h.from_.organ_id == "000.00.00.G22"
    assert h.from_.organization_in_charge == "Văn phòng Chính phủ"
    assert h.from_.fax == "080.44130"
    assert [t.organ_id for t in h.to] == ["000.00.00.H26", "000.00.00.H29"]
    assert h.code == edoc.Code("7816", "VPCP-TTĐT")
    assert h.promulgation_info == edoc.PromulgationInfo("Hà Nội", dt.date(2024, 9, 30))
    assert h.document_type == edoc.DocumentType(1, 0, "Công văn")
    assert h.signer_info == edoc.SignerInfo(
        "KT. Bộ trưởng, Chủ nhiệm", "Phó Chủ nhiệm", "Nguyễn Xuân Thắng"
    )
    assert h.due_date == dt.date(2024, 10, 15)
    assert h.other_info is not None
    assert h.other_info.priority == 2 and h.other_info.direction is True
    assert h.other_info.appendixes == [
        "Phụ lục I: Danh sách đơn vị",
        "Phụ lục II: Biểu mẫu báo cáo",
    ]
    assert h.response_for == [
        edoc.ResponseFor(
            "000.00.00.H26",
            "123/UBND-KGVX",
            "000.00.00.H26,2024/09/20,123/UBND-KGVX",
            dt.date(2024, 9, 20),
        )
    ]
    assert h.steering_type == 2
    assert h.to_places == ["Như trên", "Lưu: VT, TTĐT"]
    assert p.trace is not None and p.trace.bussiness is not None
    assert p.trace.trace_headers == [
        edoc.TraceHeader("000.00.00.G22", dt.datetime(2024, 9, 30, 14, 5, 9, tzinfo=edoc.VN_TZ))
    ]
    business = p.trace.bussiness
    assert business.bussiness_doc_type is BussinessDocType.UPDATE
    assert business.paper == 1
    assert business.bussiness_document_info[0].receivers == [edoc.Receiver("000.00.00.H29", 1)]
    assert business.staff_info[0].staff == "Trần Thị Thu Hà"
    assert p.manifest == [
        edoc.ManifestReference(
            content_id="7816-vpcp-pdf",
            content_type="application/pdf",
            description="Văn bản điện tử",
            attachment_name="7816-VPCP-TTĐT.pdf",
        )
    ]
    (att,) = p.attachments
    assert att.data == PDF and att.size == len(PDF)
    assert att.sha256 == hashlib.sha256(PDF).hexdigest()
    assert p.signature is SignatureKind.NONE


def test_every_optional_element_absent_still_makes_a_letter():
    p = read("letter_all_optional_absent.edxml")
    h = letter(p)
    assert h.content is None and h.signer_info is None and h.due_date is None
    assert h.other_info is None and h.response_for == [] and h.to_places == []
    assert h.promulgation_info.place is None
    assert h.document_type == edoc.DocumentType(18)
    assert p.trace is None and p.manifest == [] and p.attachments == []


def test_empty_optional_elements_read_as_absent():
    assert read("letter_empty_elements.edxml") == read("letter_all_optional_absent.edxml")


@pytest.mark.parametrize(
    "variant",
    [
        "letter_all_prefixed.edxml",
        "letter_crlf.edxml",
        "letter_manifest_element.edxml",
    ],
)
def test_layout_variants_read_the_same_as_the_canonical_letter(variant):
    assert read(variant) == read("letter_all_optional_present.edxml")


def test_single_s_business_spelling_is_read_as_bussiness():
    canonical = read("letter_all_optional_present.edxml")
    assert read("letter_single_s_business.edxml") == canonical


def test_mixed_prefixes_are_matched_by_local_name():
    p = read("letter_mixed_prefixes.edxml")
    h = letter(p)
    assert h.from_.organ_id == "000.00.00.H55"
    assert h.to[0].organ_name == "Bộ Nội vụ"
    assert str(h.code) == "2150/UBND-NC"
    assert h.promulgation_info.date == dt.date(2024, 11, 4)
    assert p.manifest[0].content_id == "de-an-vtvl"
    assert p.attachments[0].content_id == "de-an-vtvl"
    assert p.attachments[0].data == PDF


def test_reordered_children_are_read_in_any_order():
    p = read("letter_reordered.edxml")
    h = letter(p)
    assert h.from_.organ_id == "000.00.00.H30"
    assert h.code == edoc.Code("45", "QĐ-UBND")
    assert h.document_type == edoc.DocumentType(2, None, "Quyết định")
    assert p.trace is not None and p.trace.bussiness is not None
    assert p.trace.bussiness.staff_info == [
        edoc.StaffInfo(staff="Lê Đức Thắng", mobile="0987654321")
    ]
    (att,) = p.attachments
    assert (att.content_id, att.name, att.data) == ("qd-45", "45-QĐ-UBND.pdf", PDF)


def test_content_id_with_and_without_cid_prefix_match():
    p = read("letter_cid_forms.edxml")
    assert [r.content_id for r in p.manifest] == ["du-thao-thong-tu", "bang-tong-hop"]
    assert [a.content_id for a in p.attachments] == ["du-thao-thong-tu", "bang-tong-hop"]


def test_one_entry_zip_attachment_shows_the_inner_file_name():
    p = read("letter_cid_forms.edxml")
    assert p.attachments[0].inner_name is None
    assert p.attachments[1].inner_name == "Bảng tổng hợp ý kiến.xlsx"


def test_base64_with_line_breaks_decodes_to_the_original_bytes():
    p = read("letter_base64_linebreaks.edxml")
    expected = (FIXTURES / "letter_base64_linebreaks.expected.bin").read_bytes()
    assert p.attachments[0].data == expected
    assert p.attachments[0].sha256 == hashlib.sha256(expected).hexdigest()


def test_status_code_1_is_read_as_01():
    p = read("status_code_1.edxml")
    assert p.is_status
    assert isinstance(p.header, edoc.StatusMessage)
    assert p.header.status_code is StatusCode.ARRIVED
    assert p.header.timestamp == dt.datetime(2015, 9, 30, 16, 20, 45, tzinfo=edoc.VN_TZ)
    assert p.header.response_for.code == "7816/VPCP-TTĐT"


@pytest.mark.parametrize("code", list(StatusCode), ids=lambda c: c.code)
def test_each_status_code_is_read(code):
    p = read(f"status_{code.code}.edxml")
    assert isinstance(p.header, edoc.StatusMessage)
    assert p.header.status_code is code
    assert p.header.description


def test_placeholder_signature_in_edxml_namespace_is_reported_as_placeholder():
    assert read("letter_placeholder_signature.edxml").signature is SignatureKind.PLACEHOLDER


def test_field_style_package_from_a_gateway_is_read():
    p = read("letter_field_style.edxml")
    h = letter(p)
    assert h.from_.organ_id == "vxp.saas.03"  # not a QĐ 20 id, but real packages carry such ids
    assert h.signer_info == edoc.SignerInfo(full_name="Gateway Auto")
    assert h.other_info is not None and h.other_info.appendixes == []
    assert p.signature is SignatureKind.PLACEHOLDER  # an empty <edXML:DigitalSignature/>
    assert p.manifest[0].content_id == "2b1e7c3a-5d4f-4e6a-8b9c-0d1e2f3a4b5c"  # from xlink:href
    assert p.attachments[0].name == "bao_cao.pdf"


def test_recall_keeps_the_original_document_id_and_names_it_in_response_for():
    p = read("letter_recall.edxml")
    h = letter(p)
    assert p.bussiness_doc_type is BussinessDocType.RECALL
    assert h.response_for[0].document_id == h.document_id


def test_replace_lists_the_replaced_letter_and_its_recipients():
    p = read("letter_replace.edxml")
    assert p.bussiness_doc_type is BussinessDocType.REPLACE
    assert p.trace is not None and p.trace.bussiness is not None
    assert p.trace.bussiness.replacement_info_list == [
        edoc.ReplacementInfo(
            "000.00.00.G22,2024/09/28,7806/VPCP-TTĐT", ["000.00.00.H41", "000.00.00.H14"]
        )
    ]


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.edxml")), ids=lambda p: p.name)
def test_parse_and_from_tree_agree_on_every_fixture(path):
    data = path.read_bytes()
    assert edoc.from_tree(edoc.parse_tree(data)) == edoc.parse(data)


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.edxml")), ids=lambda p: p.name)
def test_rewriting_a_fixture_gives_canonical_bytes_that_read_back_the_same(path):
    p = edoc.parse(path.read_bytes())
    written = edoc.build(p)
    edoc.validate_written(written)
    expected = dataclasses.replace(p, signature=SignatureKind.NONE)
    assert edoc.parse(written) == expected


def test_a_bkav_package_with_day_first_dates_reads_the_right_days_and_says_so():
    p = read("letter_bkav_date_dd_mm_yyyy.edxml")
    h = letter(p)
    assert h.promulgation_info.date == dt.date(2020, 10, 30)
    assert h.due_date == dt.date(2020, 11, 15)
    assert [(v.code, v.where) for v in p.variants] == [
        ("date_dd_mm_yyyy", "MessageHeader/PromulgationInfo/PromulgationDate"),
        ("date_dd_mm_yyyy", "MessageHeader/DueDate"),
    ]


def test_a_day_first_date_is_written_back_year_first():
    written = edoc.build(read("letter_bkav_date_dd_mm_yyyy.edxml"))
    assert b"<edXML:PromulgationDate>2020/10/30</edXML:PromulgationDate>" in written
    assert b"<edXML:DueDate>2020/11/15</edXML:DueDate>" in written
    assert b"30/10/2020" not in written
    assert edoc.parse(written).variants == ()


def test_organ_code_forms_found_in_real_packages_are_read_as_sent():
    p = read("letter_organ_code_forms.edxml")
    h = letter(p)
    assert h.from_.organ_id == "000.00.15.H51"
    assert [t.organ_id for t in h.to] == ["28.22.H17", "01.02.G22", "001.00.20.TT2"]
    assert h.response_for[0].organ_id == "28.22.H17"


@pytest.mark.parametrize(
    ("fixture", "variant"),
    [
        ("letter_single_s_business.edxml", ("business_single_s", "TraceHeaderList/Bussiness")),
        (
            "letter_manifest_element.edxml",
            ("manifest_element", "edXMLEnvelope/edXMLBody/edXMLManifest"),
        ),
        ("status_code_1.edxml", ("status_code_form", "MessageHeader/StatusCode")),
        ("letter_field_style.edxml", ("reference_xlink_href", "edXMLManifest/Reference")),
        ("letter_empty_response_for.edxml", ("empty_element", "MessageHeader/ResponseFor")),
    ],
)
def test_each_non_canonical_form_read_is_listed_as_a_variant(fixture, variant):
    assert variant in [(v.code, v.where) for v in read(fixture).variants]


@pytest.mark.parametrize(
    "fixture",
    ["letter_all_optional_present.edxml", "sample_cong_van.edxml", "status_01.edxml"],
)
def test_what_our_writer_writes_has_no_variant(fixture):
    assert read(fixture).variants == ()
