"""The rules beyond well-formedness: each text field's limit, safe attachment names and content
types, and the manifest agreeing with the attachments."""

from __future__ import annotations

import dataclasses

import pytest
from lxml import etree

import edoc
from tests.edoc.conftest import FIXTURES

SOURCES = ["letter_all_optional_present.edxml", "status_05.edxml", "letter_replace.edxml"]


def _limited_elements() -> list[pytest.param]:
    """Every element with text in the sources whose name has a documented limit."""
    cases = []
    for source in SOURCES:
        root = etree.fromstring((FIXTURES / source).read_bytes())
        for index, el in enumerate(root.iter()):
            name = etree.QName(el).localname if isinstance(el.tag, str) else ""
            if name in edoc.FIELD_LIMITS and (el.text or "").strip() and not len(el):
                cases.append(pytest.param(source, index, name, id=f"{source}:{index}:{name}"))
    return cases


def _with_text(source: str, index: int, text: str) -> bytes:
    root = etree.fromstring((FIXTURES / source).read_bytes())
    list(root.iter())[index].text = text
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_every_limited_field_the_writer_writes_is_covered():
    names = {case.values[2] for case in _limited_elements()}
    assert {"Subject", "Content", "OrganName", "DocumentId", "CodeNotation", "Description",
            "AttachmentName", "ContentType", "BussinessDocReason", "Staff", "OrganId"} <= names  # fmt: skip


@pytest.mark.parametrize(("source", "index", "name"), _limited_elements())
def test_a_field_one_character_over_its_limit_is_refused_naming_it(source, index, name):
    limit = edoc.FIELD_LIMITS[name]
    with pytest.raises(edoc.FieldTooLongError) as caught:
        edoc.parse(_with_text(source, index, "1" * (limit + 1)))
    err = caught.value
    assert isinstance(err, edoc.TooLargeError) and err.code == "field_too_long"
    assert err.where is not None and err.where.rsplit("/", 1)[-1].startswith(name)
    assert f"the limit is {limit}" in err.message


def test_a_subject_at_its_limit_is_read_whole():
    root = etree.fromstring((FIXTURES / "letter_all_optional_present.edxml").read_bytes())
    (subject,) = root.iter(f"{{{edoc.NS}}}Subject")
    subject.text = "Đ" * edoc.FIELD_LIMITS["Subject"]
    package = edoc.parse(etree.tostring(root, encoding="UTF-8"))
    assert isinstance(package.header, edoc.MessageHeader)
    assert package.header.subject == subject.text


def test_a_field_without_its_own_limit_has_the_default_limit():
    root = etree.fromstring((FIXTURES / "letter_all_optional_present.edxml").read_bytes())
    (type_detail,) = root.iter(f"{{{edoc.NS}}}TypeDetail")
    type_detail.text = "0" * (edoc.DEFAULT_FIELD_LIMIT + 1)
    with pytest.raises(edoc.FieldTooLongError) as caught:
        edoc.parse(etree.tostring(root, encoding="UTF-8"))
    assert caught.value.where == "MessageHeader/DocumentType/TypeDetail"


def _manifest_field(field: str, value: str) -> bytes:
    root = etree.fromstring((FIXTURES / "letter_all_optional_present.edxml").read_bytes())
    (ref,) = root.iter(f"{{{edoc.NS}}}Reference")
    (el,) = ref.iter(f"{{{edoc.NS}}}{field}")
    el.text = value
    return etree.tostring(root, encoding="UTF-8")


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("AttachmentName", "bao-cao\u2066.pdf", "bad_attachment_name"),
        ("AttachmentName", "bao\tcao.pdf", "bad_attachment_name"),
        ("ContentType", "application/pdf\r\nX: 1", "bad_content_type"),
        ("ContentType", "application /pdf", "bad_content_type"),
    ],
)
def test_a_manifest_reference_with_an_unsafe_name_or_type_is_refused_naming_it(field, value, code):
    with pytest.raises(edoc.InvalidError) as caught:
        edoc.parse(_manifest_field(field, value))
    err = caught.value
    assert (err.code, err.where) == (code, f"edXMLManifest/Reference/{field}")
    assert err.message.startswith("manifest reference '7816-vpcp-pdf': ")


@pytest.mark.parametrize(
    "content_type",
    ["application/pdf", "application/doc", "application/vnd.ms-excel", "text/plain; charset=utf-8"],
)
def test_real_content_types_are_read(content_type):
    package = edoc.parse(_manifest_field("ContentType", content_type))
    assert package.manifest[0].content_type == content_type


def _package(manifest: list[str], attachments: list[str]) -> edoc.Package:
    base = edoc.parse((FIXTURES / "letter_all_optional_absent.edxml").read_bytes())
    return dataclasses.replace(
        base,
        manifest=[edoc.ManifestReference(content_id=c) for c in manifest],
        attachments=[
            edoc.Attachment.from_bytes(b"x", name=f"{c}.pdf", content_id=c) for c in attachments
        ],
    )


def test_a_manifest_that_matches_its_attachments_has_no_problem():
    assert edoc.problems(_package(["a", "b"], ["b", "a"])) == []
    assert edoc.problems(_package([], [])) == []


@pytest.mark.parametrize(
    ("manifest", "attachments", "expected"),
    [
        (["a", "b"], ["a"], [("reference_without_attachment", "b", "edXMLManifest/Reference[2]/ContentId")]),
        (["a"], ["a", "b"], [("attachment_without_reference", "b", "AttachmentEncoded/Attachment[2]/ContentId")]),
        (["a"], ["a", "a"], [("duplicate_content_id", "a", "AttachmentEncoded/Attachment[2]/ContentId")]),
        (["a", "a"], ["a"], [("duplicate_reference", "a", "edXMLManifest/Reference[2]/ContentId")]),
        ([], ["a"], [("attachment_without_reference", "a", "AttachmentEncoded/Attachment[1]/ContentId")]),
    ],
)  # fmt: skip
def test_each_disagreement_is_a_problem_naming_the_content_id(manifest, attachments, expected):
    found = edoc.problems(_package(manifest, attachments))
    assert [(p.code, p.content_id, p.where) for p in found] == expected
    assert all(repr(p.content_id) in p.message for p in found)


def test_every_fixture_written_by_real_systems_or_by_us_holds_together():
    for path in sorted(FIXTURES.glob("*.edxml")):
        assert edoc.problems(edoc.parse(path.read_bytes())) == [], path.name
