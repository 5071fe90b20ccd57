"""Organ identifiers, document numbers, dates and status codes parse strictly with clear errors."""

from __future__ import annotations

import datetime as dt

import pytest

import edoc
from edoc import DocumentNumber, InvalidError, OrganId, StatusCode
from edoc.values import ValueProblem, check_organ_code, parse_timestamp, read_date


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("000.00.00.G22", 1),
        ("000.00.18.G12", 2),
        ("000.03.11.H29", 3),
        ("G01.01.02.H35", 4),
        (" 000.00.00.h26 ", 1),
    ],
)
def test_organ_id_parses_real_shapes(text, level):
    organ = OrganId.parse(text)
    assert organ.level == level
    assert str(organ) == text.strip().upper()


def test_organ_id_parent_walks_up_the_levels():
    organ = OrganId.parse("G01.01.02.H35")
    chain = []
    while organ is not None:
        chain.append(str(organ))
        organ = organ.parent
    assert chain == ["G01.01.02.H35", "000.01.02.H35", "000.00.02.H35", "000.00.00.H35"]


@pytest.mark.parametrize(
    "text", ["vxp.saas.03", "H26.01", "000.00.00.22G", "000.00.00", "", "000.00.00.G22.1"]
)
def test_organ_id_refuses_other_shapes_with_a_clear_message(text):
    with pytest.raises(InvalidError) as caught:
        OrganId.parse(text)
    assert "000.00.00.G22" in caught.value.message
    assert not OrganId.is_valid(text)


@pytest.mark.parametrize(
    ("text", "number", "notation", "year"),
    [
        ("15/2020/NĐ-CP", "15", "2020/NĐ-CP", 2020),
        ("123/QĐ-TTg", "123", "QĐ-TTg", None),
        ("7816/VPCP-TTĐT", "7816", "VPCP-TTĐT", None),
        ("05/TTr-BNV", "05", "TTr-BNV", None),
        ("59/2020/QH14", "59", "2020/QH14", 2020),
        ("12/TTLT-BTC-BYT", "12", "TTLT-BTC-BYT", None),
    ],
)
def test_document_number_parses_number_and_notation(text, number, notation, year):
    parsed = DocumentNumber.parse(text)
    assert (parsed.number, parsed.notation, parsed.year) == (number, notation, year)
    assert str(parsed) == text


def test_document_number_abbreviations_leave_the_year_out():
    assert DocumentNumber.parse("15/2020/NĐ-CP").abbreviations == ["NĐ", "CP"]


@pytest.mark.parametrize("text", ["QĐ-TTg", "abc/QĐ-TTg", "0/QĐ-TTg", "12/", "12/QĐ TTg", "12/-CP"])
def test_document_number_refuses_malformed_text(text):
    with pytest.raises(InvalidError):
        DocumentNumber.parse(text)


def test_code_of_a_letter_checks_strictly_on_request():
    assert edoc.Code("15", "2020/NĐ-CP").parsed().year == 2020
    with pytest.raises(InvalidError):
        edoc.Code("20241104091500", "GW-AUTO").parsed()


@pytest.mark.parametrize(
    ("text", "variant"),
    [
        ("2024/09/30", None),
        ("2024-09-30", "date_dashes"),
        ("2024/09/30 10:12:10", "date_with_time"),
        ("2024/9/30", "date_short"),
        ("30/09/2024", "date_dd_mm_yyyy"),
        ("30-09-2024", "date_dd_mm_yyyy"),
    ],
)
def test_a_date_is_read_either_way_round_and_its_form_is_told(text, variant):
    assert read_date(text) == (dt.date(2024, 9, 30), variant)


@pytest.mark.parametrize("text", ["06/01/25", "2024/01/2024", "6/1/5", "30/09-2024"])
def test_a_date_without_one_four_digit_year_at_one_end_is_refused(text):
    with pytest.raises(ValueProblem):
        read_date(text)


def test_a_day_first_date_that_is_no_date_is_refused():
    with pytest.raises(ValueProblem, match="is not a date"):
        read_date("31/02/2024")


@pytest.mark.parametrize(
    "text",
    ["000.00.00.G22", "000.00.15.H51", "28.22.H17", "01.02.G22", "001.00.20.TT2", "vxp.saas.03"],
)
def test_organ_code_forms_found_in_real_packages_have_the_shape_of_a_code(text):
    assert check_organ_code(f" {text} ") == text


@pytest.mark.parametrize(
    "text", ["BTTTT", "Bộ Thông tin và Truyền thông", "G22", "000.00", "000 00 00 G22", "a..b.c"]
)
def test_what_is_no_organ_code_is_refused(text):
    with pytest.raises(ValueProblem, match="not an organ code"):
        check_organ_code(text)


def test_timestamps_are_vietnam_time_unless_an_offset_is_given():
    assert parse_timestamp("2024/09/30 14:05:09") == dt.datetime(
        2024, 9, 30, 14, 5, 9, tzinfo=edoc.VN_TZ
    )
    assert parse_timestamp("2024-09-30T07:05:09Z") == dt.datetime(
        2024, 9, 30, 14, 5, 9, tzinfo=edoc.VN_TZ
    )
    with pytest.raises(ValueProblem):
        parse_timestamp("30/09/2024 14:05:09")


def test_status_codes_carry_vietnamese_and_english_labels():
    assert StatusCode.from_code("1") is StatusCode.ARRIVED
    assert (StatusCode.ARRIVED.label_vi, StatusCode.ARRIVED.label_en) == ("đã đến", "arrived")
    assert StatusCode.from_code("16").label_en == "recall/update refused"
    assert [s.code for s in StatusCode] == ["01", "02", "03", "04", "05", "06", "13", "15", "16"]
    with pytest.raises(ValueError):
        StatusCode.from_code("07")


def test_status_codes_move_forward_only():
    assert StatusCode.ACCEPTED.can_move_to(StatusCode.DONE)
    assert not StatusCode.IN_PROGRESS.can_move_to(StatusCode.ACCEPTED)
    assert not StatusCode.DONE.can_move_to(StatusCode.IN_PROGRESS)
    assert not StatusCode.REFUSED.can_move_to(StatusCode.ACCEPTED)


def test_errors_carry_code_message_where_and_line():
    err = InvalidError("'x' is not a date", where="MessageHeader/DueDate", line=3, code="bad_value")
    assert str(err) == "MessageHeader/DueDate: 'x' is not a date (line 3)"
    assert err.to_json() == {
        "code": "bad_value",
        "message": "'x' is not a date",
        "where": "MessageHeader/DueDate",
        "line": 3,
    }
