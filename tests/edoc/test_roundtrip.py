"""build writes the canonical form; parse(build(p)) == p for any package, Vietnamese included."""

from __future__ import annotations

import datetime as dt
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

import edoc
from edoc import sample

VIETNAMESE = (
    "aăâbcdđeêghiklmnoôơpqrstuưvxy"
    "AĂÂBCDĐEÊGHIKLMNOÔƠPQRSTUƯVXY"
    "áàảãạắằẳẵặấầẩẫậéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ"
    "ÁÀẢÃẠẮẰẲẴẶẤẦẨẪẬÉÈẺẼẸẾỀỂỄỆÍÌỈĨỊÓÒỎÕỌỐỒỔỖỘỚỜỞỠỢÚÙỦŨỤỨỪỬỮỰÝỲỶỸỴ"
    "0123456789 .,;:/-–()&<>\"'\n"
)
text = st.text(alphabet=VIETNAMESE, min_size=1, max_size=40).map(str.strip).filter(bool)
maybe = st.none() | text
small = st.integers(min_value=0, max_value=99)
dates = st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2099, 12, 31))
stamps = st.datetimes(
    min_value=dt.datetime(2000, 1, 1),
    max_value=dt.datetime(2090, 1, 1),
    timezones=st.just(edoc.VN_TZ),
).map(lambda d: d.replace(microsecond=0))
# Every organ code shape the reader takes: QĐ 20 (000.00.00.G22), the older three groups
# (28.22.H17), issued variants (001.00.20.TT2) and test-platform ids (vxp.saas.03).
organ_ids = st.from_regex(r"\A[0-9A-Za-z]{1,8}(\.[0-9A-Za-z]{1,8}){2,4}\Z")
# An attachment's name: the Vietnamese text above without line breaks (control characters are
# refused in names).
names = text.map(lambda t: t.replace("\n", " ").strip()).filter(bool)
content_types = st.sampled_from(
    ["application/pdf", "application/zip", "application/doc", "text/plain; charset=utf-8"]
)
organs = st.builds(
    edoc.Organization,
    organ_id=organ_ids,
    organization_in_charge=maybe,
    organ_name=maybe,
    organ_add=maybe,
    email=maybe,
    telephone=maybe,
    fax=maybe,
    website=maybe,
)
signers = st.builds(edoc.SignerInfo, text, maybe, maybe)
other = st.builds(
    edoc.OtherInfo,
    priority=st.none() | small,
    sphere_of_promulgation=maybe,
    typer_notation=maybe,
    promulgation_amount=st.none() | small,
    page_amount=st.none() | small,
    direction=st.none() | st.booleans(),
    appendixes=st.lists(text, max_size=2),
).filter(lambda o: o != edoc.OtherInfo())  # an OtherInfo with nothing in it is written as nothing
responses = st.builds(edoc.ResponseFor, organ_ids, maybe, text, st.none() | dates)
headers = st.builds(
    edoc.MessageHeader,
    from_=organs,
    to=st.lists(organs, min_size=1, max_size=3),
    document_id=text,
    code=st.builds(edoc.Code, text, text),
    promulgation_info=st.builds(edoc.PromulgationInfo, maybe, dates),
    document_type=st.builds(edoc.DocumentType, small, st.none() | small, maybe),
    subject=text,
    content=maybe,
    signer_info=st.none() | signers,
    due_date=st.none() | dates,
    other_info=st.none() | other,
    response_for=st.lists(responses, max_size=2),
    steering_type=st.integers(0, 2),
    to_places=st.lists(text, max_size=2),
)
staff = st.builds(edoc.StaffInfo, department=text, staff=maybe, email=maybe, mobile=maybe)
business = st.builds(
    edoc.Bussiness,
    bussiness_doc_type=st.sampled_from(edoc.BussinessDocType),
    document_id=maybe,
    bussiness_doc_reason=maybe,
    paper=st.none() | st.integers(0, 1),
    bussiness_document_info=st.lists(
        st.builds(
            edoc.BussinessDocumentInfo,
            document_info=maybe,
            document_receiver=maybe,
            receivers=st.lists(st.builds(edoc.Receiver, organ_ids, st.none() | small), max_size=2),
        ).filter(lambda i: i != edoc.BussinessDocumentInfo()),  # written as nothing
        max_size=2,
    ),
    replacement_info_list=st.lists(
        st.builds(edoc.ReplacementInfo, text, st.lists(organ_ids, max_size=2)), max_size=2
    ),
    staff_info=st.lists(staff, max_size=2),
)
traces = st.none() | st.builds(
    edoc.TraceHeaderList,
    business,
    st.lists(st.builds(edoc.TraceHeader, organ_ids, stamps), max_size=3),
)
content_ids = st.text(alphabet="abcdef0123456789-", min_size=1, max_size=12).filter(
    lambda s: s.strip("-") == s
)
attachments = st.builds(
    lambda data, name, cid, ctype, desc: edoc.Attachment.from_bytes(
        data, name=name, content_id=cid, content_type=ctype, description=desc
    ),
    st.binary(max_size=300),
    names,
    content_ids,
    content_types,
    maybe,
)
letters = st.builds(
    edoc.Package,
    header=headers,
    trace=traces,
    manifest=st.lists(
        st.builds(
            edoc.ManifestReference,
            content_id=content_ids,
            content_type=st.none() | content_types,
            description=maybe,
            attachment_name=st.none() | names,
        ),
        max_size=2,
    ),
    attachments=st.lists(attachments, max_size=2),
)
statuses = st.builds(
    lambda h: edoc.Package(header=h),
    st.builds(
        edoc.StatusMessage,
        from_=organs,
        response_for=responses,
        status_code=st.sampled_from(edoc.StatusCode),
        timestamp=stamps,
        staff_info=st.none() | staff,
        description=maybe,
    ),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(letters | statuses)
def test_round_trip_keeps_every_field(package):
    written = edoc.build(package)
    assert edoc.parse(written) == package
    assert edoc.parse(io.BytesIO(written)) == package
    assert edoc.from_tree(edoc.parse_tree(written)) == package


@settings(max_examples=60, deadline=None)
@given(letters | statuses)
def test_our_xsd_accepts_what_build_writes(package):
    edoc.validate_written(edoc.build(package))


@settings(max_examples=30, deadline=None)
@given(letters)
def test_build_tree_is_the_same_document_as_build(package):
    tree = edoc.build_tree(package)
    parsed = edoc.parse_tree(edoc.build(package))
    assert etree.tostring(tree, method="c14n") == etree.tostring(parsed, method="c14n")


def test_build_writes_the_canonical_form():
    written = edoc.build(sample.make_letter(seed=7, attachments=1, size=100))
    assert written.startswith(
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">\n'
        b'  <edXML:edXMLEnvelope xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">\n'
    )
    assert b"<edXML:Bussiness>" in written and b"Business" not in written
    assert b"<edXML:BussinessDocType>0</edXML:BussinessDocType>" in written
    text = written.decode()
    assert text.index("</edXML:edXMLEnvelope>") < text.index("<AttachmentEncoded>")
    order = ["<edXML:From>", "<edXML:To>", "<edXML:DocumentId>", "<edXML:Code>", "<edXML:PromulgationInfo>",
             "<edXML:DocumentType>", "<edXML:Subject>", "<edXML:Content>", "<edXML:SignerInfo>",
             "<edXML:DueDate>", "<edXML:OtherInfo>", "<edXML:SteeringType>", "<edXML:ToPlaces>"]  # fmt: skip
    positions = [text.index(tag) for tag in order]
    assert positions == sorted(positions)


def test_timestamps_are_written_in_vietnam_time():
    utc = dt.datetime(2024, 3, 1, 1, 2, 3, tzinfo=dt.UTC)
    status = sample.make_status(sample.make_letter(attachments=0, seed=1), timestamp=utc)
    assert b"<edXML:Timestamp>2024/03/01 08:02:03</edXML:Timestamp>" in edoc.build(status)
    assert isinstance(edoc.parse(edoc.build(status)).header, edoc.StatusMessage)


def test_empty_optional_elements_are_omitted():
    letter = sample.make_letter(seed=3, attachments=0)
    assert isinstance(letter.header, edoc.MessageHeader)
    bare = edoc.Package(
        header=edoc.MessageHeader(
            from_=edoc.Organization(organ_id="000.00.00.G22"),
            to=[edoc.Organization(organ_id="000.00.00.H26", email="")],
            document_id="x",
            code=letter.header.code,
            promulgation_info=letter.header.promulgation_info,
            document_type=edoc.DocumentType(1),
            subject="Về việc",
            content="",
        )
    )
    written = edoc.build(bare)
    assert b"<edXML:Email" not in written and b"<edXML:Content" not in written


def test_signature_goes_last_in_edxml_header():
    root = edoc.build_tree(sample.make_letter(seed=1, attachments=0))
    header = edoc.signature_parent(root)
    assert etree.QName(header).localname == "edXMLHeader"
    signature = etree.SubElement(header, f"{{{edoc.DSIG_NS}}}Signature")
    etree.SubElement(signature, f"{{{edoc.DSIG_NS}}}SignedInfo")
    etree.SubElement(signature, f"{{{edoc.DSIG_NS}}}SignatureValue").text = "c2ln"
    data = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    edoc.validate_written(data)
    assert edoc.parse(data).signature is edoc.SignatureKind.XMLDSIG


def test_xsd_error_names_element_path_and_line():
    written = edoc.build(sample.make_letter(seed=5, attachments=0))
    broken = written.replace(b"<edXML:SteeringType>", b"<edXML:Steering>").replace(
        b"</edXML:SteeringType>", b"</edXML:Steering>"
    )
    try:
        edoc.validate_written(broken)
    except edoc.InvalidError as err:
        assert err.where is not None and err.where.startswith("MessageHeader/")
        assert err.line is not None and err.line > 1
        assert "Steering" in err.message
    else:
        raise AssertionError("the XSD accepted an unknown element")
