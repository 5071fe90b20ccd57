"""Hostile and broken input is refused with the right EdocError subclass, never expanded."""

from __future__ import annotations

import pytest

import edoc
from edoc import ForbiddenError, InvalidError, Limits, MalformedError, TooLargeError
from tests.edoc.conftest import FIXTURES, HOSTILE

EXPECTED = {
    "billion_laughs.xml": ForbiddenError,
    "xxe_file.xml": ForbiddenError,
    "xxe_http.xml": ForbiddenError,
    "xxe_parameter_entity.xml": ForbiddenError,
    "dtd_internal_subset.xml": ForbiddenError,
    "dtd_external.xml": ForbiddenError,
    "xinclude.xml": ForbiddenError,
    "xml_stylesheet.xml": ForbiddenError,
    "edoc_vn_namespace.xml": ForbiddenError,
    "soap_envelope.xml": ForbiddenError,
    "not_utf8_garbage.xml": MalformedError,
    "not_xml_at_all.xml": MalformedError,
    "truncated.xml": MalformedError,
    "too_deep.xml": TooLargeError,
    "date_ambiguous.xml": InvalidError,
    "organ_id_abbreviation.xml": InvalidError,
    "date_not_a_date.xml": InvalidError,
    "missing_from.xml": InvalidError,
    "two_froms.xml": InvalidError,
    "no_to.xml": InvalidError,
    "status_code_07.xml": InvalidError,
    "wrong_root.xml": InvalidError,
    "bad_base64.xml": InvalidError,
}


def test_every_hostile_fixture_has_an_expectation():
    assert sorted(p.name for p in HOSTILE.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize(("name", "error"), sorted(EXPECTED.items()))
def test_hostile_file_is_refused_by_parse(name, error):
    with pytest.raises(error) as caught:
        edoc.parse((HOSTILE / name).read_bytes())
    assert isinstance(caught.value, edoc.EdocError)
    assert caught.value.code and caught.value.message


@pytest.mark.parametrize(("name", "error"), sorted(EXPECTED.items()))
def test_hostile_file_is_refused_by_parse_tree_then_from_tree(name, error):
    with pytest.raises(error):
        edoc.from_tree(edoc.parse_tree((HOSTILE / name).read_bytes()))


def test_billion_laughs_is_refused_before_any_entity_is_expanded():
    with pytest.raises(ForbiddenError) as caught:
        edoc.parse((HOSTILE / "billion_laughs.xml").read_bytes())
    assert caught.value.code == "dtd" and caught.value.line == 2


def test_a_date_without_a_four_digit_year_is_ambiguous_and_names_the_element_and_line():
    with pytest.raises(InvalidError) as caught:
        edoc.parse((HOSTILE / "date_ambiguous.xml").read_bytes())
    err = caught.value
    assert err.where == "MessageHeader/PromulgationInfo/PromulgationDate"
    assert err.line == 18
    assert "ambiguous" in err.message


def test_impossible_date_message_reads_like_the_issue_example():
    with pytest.raises(InvalidError) as caught:
        edoc.parse((HOSTILE / "date_not_a_date.xml").read_bytes())
    assert str(caught.value) == (
        "MessageHeader/PromulgationInfo/PromulgationDate: '2024-13-40' is not a date (line 18)"
    )


def test_two_froms_point_at_the_second_one():
    with pytest.raises(InvalidError) as caught:
        edoc.parse((HOSTILE / "two_froms.xml").read_bytes())
    assert caught.value.where == "MessageHeader/From" and caught.value.line == 9


def test_old_e_doc_namespace_is_refused_with_a_clear_message():
    with pytest.raises(ForbiddenError) as caught:
        edoc.parse((HOSTILE / "edoc_vn_namespace.xml").read_bytes())
    assert "e-doc.vn" in str(caught.value) and "QCVN 102" in str(caught.value)


def test_too_many_elements_is_refused():
    data = (FIXTURES / "letter_all_optional_present.edxml").read_bytes()
    with pytest.raises(TooLargeError) as caught:
        edoc.parse(data, limits=Limits(max_elements=50))
    assert caught.value.code == "too_many"
    with pytest.raises(TooLargeError):
        edoc.parse_tree(data, limits=Limits(max_elements=50))


def test_too_large_bytes_are_refused_from_bytes_and_from_a_stream():
    data = (FIXTURES / "letter_all_optional_present.edxml").read_bytes()
    small = Limits(max_bytes=1000)
    with pytest.raises(TooLargeError):
        edoc.parse(data, limits=small)
    import io

    with pytest.raises(TooLargeError):
        edoc.parse(io.BytesIO(data + b"\n" * 3_000_000), limits=Limits(max_bytes=2_000_000))
    with pytest.raises(TooLargeError):
        edoc.parse_tree(data, limits=small)


def test_overlong_text_is_refused():
    data = (FIXTURES / "letter_all_optional_present.edxml").read_bytes()
    with pytest.raises(TooLargeError) as caught:
        edoc.parse(data, limits=Limits(max_text=20))
    assert caught.value.code == "text_too_long"


def test_a_root_that_is_not_edxml_in_the_edxml_namespace_is_refused():
    data = (FIXTURES / "letter_all_optional_absent.edxml").read_bytes()
    wrong = data.replace(
        b'xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016"', b'xmlns:edXML="urn:other"'
    )
    with pytest.raises(InvalidError) as caught:
        edoc.parse(wrong)
    assert caught.value.code == "wrong_namespace"


def test_a_missing_required_element_is_named():
    data = (FIXTURES / "letter_all_optional_absent.edxml").read_bytes()
    broken = data.replace(
        b"<edXML:Subject>V/v ph\xc3\xa2n b\xe1\xbb\x95 kinh ph\xc3\xad n\xc4\x83m 2025</edXML:Subject>",
        b"",
    )
    with pytest.raises(InvalidError) as caught:
        edoc.parse(broken)
    assert caught.value.where == "MessageHeader/Subject" and caught.value.code == "missing"


def test_an_abbreviation_for_an_organ_id_names_the_element_and_line():
    with pytest.raises(InvalidError) as caught:
        edoc.parse((HOSTILE / "organ_id_abbreviation.xml").read_bytes())
    err = caught.value
    assert (err.code, err.where, err.line) == ("bad_organ_id", "MessageHeader/From/OrganId", 7)
    assert "'BTTTT' is not an organ code" in err.message


@pytest.mark.parametrize("read", [edoc.parse, edoc.parse_tree])
def test_an_encoding_nobody_knows_is_refused_as_malformed_not_a_crash(read) -> None:
    with pytest.raises(MalformedError) as info:
        read(b'<?xml version="1.0" encoding="uAUTF-8"?><edXMLEnvelope/>')
    assert info.value.code == "malformed" and "encoding" in str(info.value)
