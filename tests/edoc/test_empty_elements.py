"""An empty optional element means absent, everywhere in the reader: for every element of packages
that carry every optional element, `<X/>` (or `<X>  </X>`, or `<X xsi:nil="true"/>`) reads exactly as if `X` were not
there. The cases are generated from the fixtures, one per element, not picked by hand."""

from __future__ import annotations

import copy

import pytest
from lxml import etree

import edoc
from tests.edoc.conftest import FIXTURES

# Between them these carry every optional element and child of the model: a letter with all of
# them, a replacement (ReplacementInfoList), a gateway-style package (xlink references), a letter
# answering another (ResponseFor with Code) and a Status with StaffInfo and Description.
SOURCES = [
    "letter_all_optional_present.edxml",
    "letter_replace.edxml",
    "letter_field_style.edxml",
    "letter_organ_code_forms.edxml",
    "status_05.edxml",
]
# An attachment's bytes are not an optional element; a signature element, even an empty one, is
# reported as a (placeholder) signature rather than read into the letter.
_SKIP = {"ContentTransferEncoded", "Signature", "DigitalSignature"}


def _name(el: etree._Element) -> str:
    return etree.QName(el).localname


def _cases() -> list[pytest.param]:
    cases = []
    for source in SOURCES:
        root = etree.fromstring((FIXTURES / source).read_bytes())
        for index, el in enumerate(root.iter()):
            if not isinstance(el.tag, str) or el is root or _name(el) in _SKIP:
                continue
            if any(_name(a) in ("Signature", "DigitalSignature") for a in el.iterancestors()):
                continue
            ancestors = [_name(a) for a in reversed(list(el.iterancestors()))]
            chain = [*ancestors[2:], _name(el)]
            cases.append(pytest.param(source, index, id=f"{source}:{index}:{'/'.join(chain)}"))
    return cases


def _variant(source: str, index: int, how: str) -> bytes:
    root = etree.fromstring((FIXTURES / source).read_bytes())
    el = list(root.iter())[index]
    parent = el.getparent()
    assert parent is not None
    if how == "removed":
        parent.remove(el)
    else:
        empty = etree.Element(el.tag, nsmap=el.nsmap)
        empty.tail = el.tail
        if how == "blank":
            empty.text = "  \n  "
        if how == "nil":
            empty.set("{http://www.w3.org/2001/XMLSchema-instance}nil", "true")
        parent.replace(el, copy.deepcopy(empty))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _read(data: bytes) -> edoc.Package | edoc.EdocError:
    try:
        return edoc.parse(data)
    except edoc.EdocError as exc:
        return exc


def test_the_generated_cases_cover_every_optional_element_the_issue_names():
    names = {case.id.rsplit(":", 1)[-1].rsplit("/", 1)[-1] for case in _cases()}
    assert {"ResponseFor", "SignerInfo", "OtherInfo", "Appendixes", "ToPlaces", "DueDate",
            "Content", "Bussiness", "StaffInfo", "ReplacementInfoList", "OrganIdList",
            "BussinessDocumentInfo", "ReceiverList", "edXMLManifest", "Reference",
            "AttachmentEncoded", "Description", "TraceHeaderList"} <= names  # fmt: skip


@pytest.mark.parametrize(("source", "index"), _cases())
@pytest.mark.parametrize("how", ["self_closed", "blank", "nil"])
def test_an_empty_element_reads_as_if_it_were_absent(source, index, how):
    absent = _read(_variant(source, index, "removed"))
    empty = _read(_variant(source, index, how))
    if isinstance(absent, edoc.EdocError):
        # A required element stays required: the same refusal, naming the same element.
        assert isinstance(empty, edoc.EdocError), f"an empty required element was accepted: {empty}"
        assert (type(empty), empty.where) == (type(absent), absent.where)
    else:
        assert empty == absent


def test_an_empty_response_for_from_the_live_axis_is_no_response_for():
    package = edoc.parse((FIXTURES / "letter_empty_response_for.edxml").read_bytes())
    assert isinstance(package.header, edoc.MessageHeader)
    assert package.header.response_for == []
    assert package.trace is not None and package.trace.bussiness is not None
    assert package.trace.bussiness.bussiness_doc_reason is None
    assert (
        edoc.Variant("empty_element", "MessageHeader/ResponseFor", "empty, read as absent")
        in package.variants
    )
