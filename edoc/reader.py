"""The hardened edXML reader: refuses DTDs, entities, XInclude and oversized input before they can
cost anything, streams attachments out of the document, and reads every variant real senders write
into the model, checking it by meaning."""

from __future__ import annotations

import binascii
import datetime as dt
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, Protocol, TypeVar
from xml.parsers import expat

from lxml import etree

from edoc.errors import (
    EdocError,
    FieldTooLongError,
    ForbiddenError,
    InvalidError,
    MalformedError,
    TooLargeError,
)
from edoc.model import (
    DSIG_NS,
    NS,
    ZIP_HEAD,
    ZIP_TAIL,
    Attachment,
    Bussiness,
    BussinessDocType,
    BussinessDocumentInfo,
    Code,
    DocumentType,
    ManifestReference,
    MessageHeader,
    Organization,
    OtherInfo,
    Package,
    PromulgationInfo,
    Receiver,
    ReplacementInfo,
    ResponseFor,
    SignatureKind,
    SignerInfo,
    StaffInfo,
    StatusCode,
    StatusMessage,
    TraceHeader,
    TraceHeaderList,
    Variant,
    zip_single_name,
)
from edoc.rules import check_attachment_name, check_content_type, field_limit
from edoc.values import (
    ValueProblem,
    check_organ_code,
    parse_timestamp,
    read_date,
    strip_cid,
    timestamp_variant,
)

XINCLUDE_NS = ("http://www.w3.org/2001/XInclude", "http://www.w3.org/2003/XInclude")
LEGACY_NS_PREFIX = "http://www.e-doc.vn/"
SOAP_NS = (
    "http://schemas.xmlsoap.org/soap/envelope/",
    "http://www.w3.org/2003/05/soap-envelope",
)
# Processing instructions that make a consumer fetch something.
_FETCHING_PIS = ("xml-stylesheet", "xml-model")
_CHUNK = 1 << 20
_NS_TAG = f"{{{NS}}}"


@dataclass(frozen=True)
class Limits:
    """What the reader accepts before it stops with TooLargeError.

    The defaults take a package with a 300 MB attachment (base64 makes it ~400 MB on the wire).
    """

    max_bytes: int = 512 * 1024 * 1024  # the whole document
    max_depth: int = 32  # element nesting; edXML needs about 8
    max_elements: int = 100_000  # every element counted; ~10 per recipient
    max_text: int = 4 * 1024 * 1024  # characters in one element other than an attachment's bytes


DEFAULT_LIMITS = Limits()


class Writer(Protocol):
    """Where streamed attachment bytes go: a file, a blob-store upload, a hash..."""

    def write(self, data: bytes, /) -> object: ...


AttachmentSink = Callable[[Attachment], Writer]


def parse(
    source: bytes | bytearray | memoryview | BinaryIO,
    *,
    limits: Limits | None = None,
    attachment_sink: AttachmentSink | None = None,
) -> Package:
    """Read an edXML package from bytes or a binary stream, hardened and checked by meaning.

    Attachments are decoded as the document streams by. Without a sink their bytes are kept on
    `Attachment.data`; with one, `attachment_sink(att)` is called when an attachment's bytes begin
    (`att` holds what came before `ContentTransferEncoded`: usually ContentId, name and type; size
    and sha256 are still 0 and "") and the decoded bytes are written to the writer it returns,
    chunk by chunk; edoc does not close it. The returned Package has every attachment's size and
    SHA-256, and `data` None. Memory stays bounded by the header's size, whatever the attachments'.
    """
    scanner = _Scanner(limits or DEFAULT_LIMITS, build=True, sink=attachment_sink)
    scanner.run(source)
    assert scanner.root is not None
    return _TreeReader(scanner.root, scanner.streamed).package()


def parse_tree(data: bytes, *, limits: Limits | None = None) -> etree._Element:
    """The hardened reader alone: the document's root element, for XML-signature checking.

    The bytes are first scanned (DTD, entities, XInclude, fetching instructions refused; size,
    depth and element count limited), then parsed by lxml with entities, DTDs and network off.
    """
    lim = limits or DEFAULT_LIMITS
    _Scanner(lim, build=False, sink=None).run(data)
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        # The scan above has held the document to lim.max_bytes, so libxml2's own 10 MB text cap
        # can be lifted for the attachments' base64.
        huge_tree=True,
        collect_ids=False,
    )
    try:
        return etree.fromstring(bytes(data), parser)
    except etree.XMLSyntaxError as exc:
        raise MalformedError(str(exc.msg), line=exc.lineno, code="malformed") from None


def from_tree(root: etree._Element) -> Package:
    """Build the model from an already-parsed tree, reading nothing outside `root`.

    Checks are those of `parse`. Attachments are decoded from the tree's text.
    """
    return _TreeReader(root, None).package()


# --------------------------------------------------------------------------------------------
# The scanner: expat driven by hand, so the reader sees each construct before it costs anything,
# knows the line of every element, and receives long texts in pieces.


@dataclass
class _Streamed:
    size: int
    sha256: str
    data: bytes | None
    inner_name: str | None


class _Base64Decoder:
    """Base64 text in, decoded bytes out, in pieces; tolerant of line breaks and lost padding."""

    def __init__(self, writer: Writer | None) -> None:
        self.writer = writer
        self.kept: list[bytes] | None = [] if writer is None else None
        self.pending = b""
        self.digest = hashlib.sha256()
        self.size = 0
        self.head = b""
        self.tail = b""

    def feed(self, text: str) -> None:
        try:
            raw = text.encode("ascii")
        except UnicodeEncodeError:
            raise ValueProblem("is not base64: it holds a character outside base64") from None
        raw = raw.translate(None, b" \t\r\n")
        if not raw:
            return
        data = self.pending + raw if self.pending else raw
        cut = len(data) - len(data) % 4
        self.pending = data[cut:]
        if cut:
            self._decode(data[:cut] if cut != len(data) else data)

    def _decode(self, chunk: bytes) -> None:
        try:
            out = binascii.a2b_base64(chunk, strict_mode=True)
        except binascii.Error as exc:
            raise ValueProblem(f"is not base64 ({exc})") from None
        self.digest.update(out)
        self.size += len(out)
        if len(self.head) < ZIP_HEAD:
            self.head += out[: ZIP_HEAD - len(self.head)]
        self.tail = out[-ZIP_TAIL:] if len(out) >= ZIP_TAIL else (self.tail + out)[-ZIP_TAIL:]
        if self.writer is not None:
            self.writer.write(out)
        elif self.kept is not None:
            self.kept.append(out)

    def finish(self) -> _Streamed:
        if self.pending:
            # Some writers drop the trailing '='; a single leftover character is no base64 at all.
            if len(self.pending) == 1:
                raise ValueProblem("is not base64: its length is not a multiple of 4")
            self._decode(self.pending + b"=" * (4 - len(self.pending)))
            self.pending = b""
        data = b"".join(self.kept) if self.kept is not None else None
        return _Streamed(
            size=self.size,
            sha256=self.digest.hexdigest(),
            data=data,
            inner_name=zip_single_name(self.head, self.tail),
        )


@dataclass
class _Frame:
    element: etree._Element | None
    local: str
    line: int
    parts: list[str]
    text_len: int = 0
    has_child: bool = False
    decoder: _Base64Decoder | None = None


def _split(name: str) -> tuple[str, str]:
    uri, sep, local = name.rpartition("}")
    return (uri, local) if sep else ("", name)


_DONE: expat.XMLParserType = expat.ParserCreate()


class _Scanner:
    def __init__(self, limits: Limits, *, build: bool, sink: AttachmentSink | None) -> None:
        self.limits = limits
        self.build = build
        self.sink = sink
        self.stack: list[_Frame] = []
        self.count = 0
        self.root: etree._Element | None = None
        self.streamed: dict[etree._Element, _Streamed] = {}
        p = expat.ParserCreate(namespace_separator="}")
        p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        p.StartDoctypeDeclHandler = self._doctype
        p.EntityDeclHandler = self._entity
        p.ExternalEntityRefHandler = self._external
        p.ProcessingInstructionHandler = self._pi
        # Only checking (parse_tree): no element is built and no text kept, so a depth counter
        # stands in for the stack of frames; the limits and refusals are the same.
        p.StartElementHandler = self._start if build else self._check_start
        p.EndElementHandler = self._end if build else self._check_end
        self.depth = 0
        if build:
            p.buffer_text = True
            p.buffer_size = 1 << 20
            p.CharacterDataHandler = self._data
        self.parser = p

    def run(self, source: bytes | bytearray | memoryview | BinaryIO) -> None:
        total = 0
        try:
            if isinstance(source, bytes | bytearray | memoryview):
                view = memoryview(source)
                if len(view) > self.limits.max_bytes:
                    raise self._too_large(len(view))
                for start in range(0, len(view), _CHUNK):
                    self.parser.Parse(bytes(view[start : start + _CHUNK]), False)
            else:
                while chunk := source.read(_CHUNK):
                    total += len(chunk)
                    if total > self.limits.max_bytes:
                        raise self._too_large(total)
                    self.parser.Parse(chunk, False)
            self.parser.Parse(b"", True)
        except expat.ExpatError as exc:
            message = expat.errors.messages[exc.code] if exc.code else str(exc)
            if exc.code == expat.errors.codes[expat.errors.XML_ERROR_NO_ELEMENTS]:
                message = (
                    "the document ends before its root element is closed"
                    if self.count
                    else "no XML element in the document"
                )
            raise MalformedError(
                f"not well-formed XML: {message}", line=exc.lineno, code="malformed"
            ) from None
        except LookupError as exc:
            # expat asks Python's codecs for an encoding it does not know itself; a name Python
            # does not know either (`encoding="uAUTF-8"`) ends up here, not as an ExpatError.
            raise MalformedError(
                f"not well-formed XML: the declared encoding is unknown ({exc})",
                code="malformed",
            ) from None
        except EdocError:
            raise
        except RecursionError:  # pragma: no cover - depth is limited long before
            raise TooLargeError("nesting too deep", code="too_deep") from None
        finally:
            # The parser's handlers point back here: break the cycle so its buffers go now,
            # not at the next garbage collection.
            self.parser = _DONE

    def _too_large(self, size: int) -> TooLargeError:
        return TooLargeError(
            f"the document is larger than {self.limits.max_bytes} bytes (read {size} so far)",
            code="too_large",
        )

    def _line(self) -> int:
        return int(self.parser.CurrentLineNumber)

    def _doctype(self, *_: object) -> None:
        raise ForbiddenError(
            "a DTD (<!DOCTYPE>) is not allowed in edXML", line=self._line(), code="dtd"
        )

    def _entity(self, *_: object) -> None:
        raise ForbiddenError(
            "entity declarations are not allowed", line=self._line(), code="entity"
        )

    def _external(self, *_: object) -> int:
        raise ForbiddenError(
            "external entities are not allowed", line=self._line(), code="external_entity"
        )

    def _pi(self, target: str, _data: str) -> None:
        if target.lower() in _FETCHING_PIS:
            raise ForbiddenError(
                f"the processing instruction <?{target}?> is not allowed",
                line=self._line(),
                code="processing_instruction",
            )

    def _limit(self, depth: int) -> int:
        """One more element, `depth` elements deep: within the limits, or refused. Its line."""
        lim = self.limits
        line: int = self.parser.CurrentLineNumber
        self.count += 1
        if self.count > lim.max_elements:
            raise TooLargeError(
                f"more than {lim.max_elements} elements", line=line, code="too_many"
            )
        if depth >= lim.max_depth:
            raise TooLargeError(
                f"elements nested deeper than {lim.max_depth}", line=line, code="too_deep"
            )
        return line

    def _check_start(self, name: str, _attrs: dict[str, str]) -> None:
        line = self._limit(self.depth)
        if not name.startswith(_NS_TAG[1:]):
            uri, local = _split(name)
            if uri:
                _check_namespace(uri, local, line)
        self.depth += 1

    def _check_end(self, _name: str) -> None:
        self.depth -= 1

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        line = self._limit(len(self.stack))
        uri, local = _split(name)
        if uri and uri != NS:
            _check_namespace(uri, local, line)
        parent = self.stack[-1] if self.stack else None
        element: etree._Element | None = None
        if self.build:
            tag = f"{{{uri}}}{local}" if uri else local
            if parent is None:
                element = etree.Element(tag)
                self.root = element
            else:
                assert parent.element is not None
                element = etree.SubElement(parent.element, tag)
            element.sourceline = line  # type: ignore[assignment]
            for key, value in attrs.items():
                akey, _, alocal = key.rpartition("}")
                element.set(f"{{{akey}}}{alocal}" if akey else alocal, value)
        if parent is not None:
            parent.has_child = True
        frame = _Frame(element, local, line, [])
        if (
            self.build
            and local == "ContentTransferEncoded"
            and parent is not None
            and parent.local == "Attachment"
        ):
            writer = None
            if self.sink is not None:
                assert parent.element is not None
                writer = self.sink(_provisional(parent.element))
            frame.decoder = _Base64Decoder(writer)
        self.stack.append(frame)

    def _data(self, text: str) -> None:
        frame = self.stack[-1]
        if frame.decoder is not None:
            try:
                frame.decoder.feed(text)
            except ValueProblem as exc:
                raise InvalidError(
                    f"the attachment {exc}",
                    where=_frame_path(self.stack),
                    line=frame.line,
                    code="bad_base64",
                ) from None
            return
        if frame.has_child:
            return  # whitespace between elements; edXML has no mixed content
        frame.text_len += len(text)
        if frame.text_len > self.limits.max_text:
            raise TooLargeError(
                f"text longer than {self.limits.max_text} characters",
                where=_frame_path(self.stack),
                line=frame.line,
                code="text_too_long",
            )
        frame.parts.append(text)

    def _end(self, _name: str) -> None:
        frame = self.stack[-1]
        if frame.decoder is not None:
            try:
                result = frame.decoder.finish()
            except ValueProblem as exc:
                raise InvalidError(
                    f"the attachment {exc}",
                    where=_frame_path(self.stack),
                    line=frame.line,
                    code="bad_base64",
                ) from None
            parent = self.stack[-2].element
            assert parent is not None
            self.streamed[parent] = result
        elif frame.element is not None and frame.parts:
            frame.element.text = "".join(frame.parts)
        self.stack.pop()


def _check_namespace(uri: str, local: str, line: int | None) -> None:
    if uri.startswith(LEGACY_NS_PREFIX):
        raise ForbiddenError(
            f"{local} is in the namespace {uri}, the older provincial e-doc protocol, "
            f"not QCVN 102 edXML ({NS})",
            line=line,
            code="legacy_namespace",
        )
    if uri in SOAP_NS:
        raise ForbiddenError(
            "a SOAP envelope belongs to the older provincial protocol; send the edXML "
            "document itself (QCVN 102)",
            line=line,
            code="legacy_namespace",
        )
    if uri in XINCLUDE_NS:
        raise ForbiddenError("XInclude is not allowed", line=line, code="xinclude")


def _frame_path(stack: list[_Frame]) -> str:
    names = [_norm(f.local) for f in stack]
    for anchor in ("MessageHeader", "TraceHeaderList", "edXMLManifest", "AttachmentEncoded"):
        if anchor in names:
            return "/".join(names[names.index(anchor) :])
    return "/".join(names)


def _provisional(attachment: etree._Element) -> Attachment:
    """The attachment as far as it is known when its bytes begin."""
    known: dict[str, str] = {}
    for child in attachment:
        if isinstance(child.tag, str):
            known.setdefault(_norm(etree.QName(child).localname), (child.text or "").strip())
    return Attachment(
        content_id=strip_cid(known.get("ContentId", "")),
        name=known.get("AttachmentName") or None,
        content_type=known.get("ContentType") or None,
        description=known.get("Description") or None,
        size=0,
        sha256="",
    )


# --------------------------------------------------------------------------------------------
# From tree to model. Children are matched by local name in any order and any prefix; what
# is read is checked by meaning; errors name the element path and line.

T = TypeVar("T")


def _norm(local: str) -> str:
    """The spelling the model uses for a local name some senders spell differently."""
    if local.startswith("Business"):
        return "Bussiness" + local[len("Business") :]
    if local == "Manifest":
        return "edXMLManifest"
    return local


def _local(el: etree._Element) -> str:
    return _norm(str(el.tag).rpartition("}")[2])


def _sourceline(el: etree._Element) -> int | None:
    line: object = el.sourceline
    return line if isinstance(line, int) else None


def _ns(el: etree._Element) -> str:
    tag = str(el.tag)
    return tag[1:].partition("}")[0] if tag.startswith("{") else ""


_INT = re.compile(r"^[+-]?\d{1,18}$")


def _int(text: str) -> int:
    if not _INT.match(text):
        raise ValueProblem(f"{text!r} is not a whole number")
    return int(text)


def _bool(text: str) -> bool:
    value = text.lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise ValueProblem(f"{text!r} is not true or false")


# .NET serialisers write a null as <X xsi:nil="true"/>: the XML Schema instance attributes say
# nothing of the letter.
_XSI = "{http://www.w3.org/2001/XMLSchema-instance}"


def _is_empty(el: etree._Element) -> bool:
    """`<X/>`, `<X></X>`, `<X> </X>`, `<X xsi:nil="true"/>`, or an element holding only such
    elements: an empty optional element means absent. An attachment's bytes are never "empty" here (when streamed they are
    not in the tree at all)."""
    if (el.text or "").strip() or any(not str(key).startswith(_XSI) for key in el.attrib):
        return False
    if _local(el) == "ContentTransferEncoded":
        return False
    return all(_is_empty(child) for child in el if isinstance(child.tag, str))


_NAME_VARIANTS = {
    "Manifest": ("manifest_element", "Manifest read as edXMLManifest"),
}


class _Node:
    __slots__ = ("_empty", "_index", "el", "notes", "path")

    def __init__(self, el: etree._Element, path: str, notes: list[Variant]) -> None:
        self.el = el
        self.path = path
        self.notes = notes
        self._index: dict[str, list[etree._Element]] | None = None
        self._empty: dict[str, etree._Element] = {}

    def _children(self, name: str) -> list[etree._Element]:
        if self._index is None:
            self._index = {}
            for child in self.el:
                tag = child.tag
                if not isinstance(tag, str):
                    continue
                raw = tag.rpartition("}")[2]
                local = _norm(raw)
                if raw != local:
                    code, message = _NAME_VARIANTS.get(
                        raw, ("business_single_s", f"{raw} read as {local}")
                    )
                    self.notes.append(Variant(code, f"{self.path}/{local}", message))
                if _is_empty(child):
                    self._empty.setdefault(local, child)
                    self.notes.append(
                        Variant("empty_element", f"{self.path}/{local}", "empty, read as absent")
                    )
                    continue
                self._index.setdefault(local, []).append(child)
        return self._index.get(name, [])

    def _node(self, el: etree._Element, path: str) -> _Node:
        return _Node(el, path, self.notes)

    @property
    def line(self) -> int | None:
        return _sourceline(self.el)

    def kids(self, name: str) -> list[_Node]:
        found = self._children(name)
        if len(found) == 1:
            return [self._node(found[0], f"{self.path}/{name}")]
        return [self._node(c, f"{self.path}/{name}[{i}]") for i, c in enumerate(found, 1)]

    def one(self, name: str) -> _Node | None:
        found = self._children(name)
        return self._node(found[0], f"{self.path}/{name}") if found else None

    def need(self, name: str) -> _Node:
        node = self.one(name)
        if node is None:
            raise self.missing(name)
        return node

    def missing(self, name: str) -> InvalidError:
        self._children(name)
        empty = self._empty.get(name)
        if empty is not None:
            return InvalidError(
                "is required but empty",
                where=f"{self.path}/{name}",
                line=_sourceline(empty),
                code="empty",
            )
        return InvalidError(
            "is required but missing", where=f"{self.path}/{name}", line=self.line, code="missing"
        )

    def text(self) -> str | None:
        value = (self.el.text or "").strip()
        limit = field_limit(_local(self.el))
        if len(value) > limit:
            raise FieldTooLongError(
                f"{len(value)} characters; the limit is {limit}",
                where=self.path,
                line=self.line,
                code="field_too_long",
            )
        return value or None

    def opt(self, name: str) -> str | None:
        node = self.one(name)
        return node.text() if node is not None else None

    def req(self, name: str) -> str:
        value = self.need(name).text()
        assert value is not None  # an element without text is empty, so absent
        return value

    def conv(self, name: str, convert: Callable[[str], T], *, required: bool = False) -> T | None:
        node = self.one(name)
        value = node.text() if node is not None else None
        if value is None:
            if required:
                raise self.missing(name)
            return None
        assert node is not None
        try:
            return convert(value)
        except ValueProblem as exc:
            raise InvalidError(
                str(exc), where=node.path, line=node.line, code="bad_value"
            ) from None

    def date(self, name: str, *, required: bool = False) -> dt.date | None:
        """A date in yyyy/MM/dd or one of the variants `read_date` knows, noted as such."""
        forms: list[tuple[str, str]] = []

        def convert(text: str) -> dt.date:
            value, variant = read_date(text)
            if variant is not None:
                forms.append((variant, text))
            return value

        value = self.conv(name, convert, required=required)
        for variant, text in forms:
            self.notes.append(Variant(variant, f"{self.path}/{name}", f"{text!r} read as {value}"))
        return value

    def timestamp(self, name: str) -> dt.datetime:
        value = self.conv(name, parse_timestamp, required=True)
        assert value is not None
        text = self.opt(name) or ""
        if (form := timestamp_variant(text)) is not None:
            self.notes.append(
                Variant("timestamp_form", f"{self.path}/{name}", f"{text!r} is {form}")
            )
        return value

    def organ(self, name: str = "OrganId") -> str:
        """A required OrganId, which must have the shape of an organ code."""
        node = self.need(name)
        return node.organ_text()

    def organ_text(self) -> str:
        text = self.text()
        assert text is not None
        try:
            return check_organ_code(text)
        except ValueProblem as exc:
            raise InvalidError(
                str(exc), where=self.path, line=self.line, code="bad_organ_id"
            ) from None

    def checked(
        self, name: str, check: Callable[[str], None], *, code: str, about: str
    ) -> str | None:
        """An optional text that `check` must accept; the error names `about` (an attachment)."""
        node = self.one(name)
        value = node.text() if node is not None else None
        if value is None or node is None:
            return None
        try:
            check(value)
        except ValueProblem as exc:
            raise InvalidError(
                f"{about}: {exc}", where=node.path, line=node.line, code=code
            ) from None
        return value

    def fail(self, message: str, code: str = "invalid") -> InvalidError:
        return InvalidError(message, where=self.path, line=self.line, code=code)


class _TreeReader:
    def __init__(self, root: etree._Element, streamed: dict[etree._Element, _Streamed] | None):
        self.root = root
        self.streamed = streamed
        self.notes: list[Variant] = []

    def package(self) -> Package:
        root = self.root
        if not isinstance(root.tag, str):
            raise InvalidError("not an edXML package: the root is not an element")
        for el in root.iter():
            if isinstance(el.tag, str) and not str(el.tag).startswith(_NS_TAG):
                _check_namespace(_ns(el), etree.QName(el).localname, _sourceline(el))
        local = _local(root)
        if local == "edXMLEnvelope":
            envelope, outer = root, None
        elif local == "edXML":
            outer = _Node(root, "edXML", self.notes)
            found = outer.one("edXMLEnvelope")
            if found is None:
                raise outer.missing("edXMLEnvelope")
            envelope = found.el
        else:
            raise InvalidError(
                f"not an edXML package: the root element is <{etree.QName(root).localname}>, "
                "expected <edXML>",
                line=_sourceline(root),
                code="not_edxml",
            )
        if _ns(envelope) != NS:
            raise InvalidError(
                f"edXMLEnvelope must be in the namespace {NS} (found "
                f"{_ns(envelope) or 'no namespace'})",
                where="edXMLEnvelope",
                line=_sourceline(envelope),
                code="wrong_namespace",
            )
        env = _Node(envelope, "edXMLEnvelope", self.notes)
        if outer is None:
            self.notes.append(
                Variant("envelope_root", "edXMLEnvelope", "the root is edXMLEnvelope, not edXML")
            )
        header_el = env.need("edXMLHeader")
        message = header_el.one("MessageHeader")
        if message is None:
            raise header_el.missing("MessageHeader")
        message.path = "MessageHeader"
        header: MessageHeader | StatusMessage
        if message.one("StatusCode") is not None:
            header = self._status(message)
        else:
            header = self._letter(message)
        trace_node = header_el.one("TraceHeaderList")
        trace = None
        if trace_node is not None:
            trace_node.path = "TraceHeaderList"
            trace = self._trace(trace_node)
            if not trace.trace_headers and trace.bussiness is None:
                trace = None  # an empty <TraceHeaderList/> says nothing
        manifest: list[ManifestReference] = []
        body = env.one("edXMLBody")
        if body is not None:
            found_manifest = body.one("edXMLManifest")
            if found_manifest is not None:
                found_manifest.path = "edXMLManifest"
                manifest = [self._reference(r) for r in found_manifest.kids("Reference")]
        attachments: list[Attachment] = []
        holders = [outer, env] if outer is not None else [env]
        for holder in holders:
            for encoded in holder.kids("AttachmentEncoded"):
                if holder is env and outer is not None:
                    self.notes.append(
                        Variant(
                            "attachments_in_envelope",
                            "edXMLEnvelope/AttachmentEncoded",
                            "AttachmentEncoded inside the envelope rather than after it",
                        )
                    )
                encoded.path = "AttachmentEncoded"
                attachments.extend(self._attachment(a) for a in encoded.kids("Attachment"))
        signature = _signature_kind([header_el, env] + ([outer] if outer else []))
        return Package(
            header=header,
            trace=trace,
            manifest=manifest,
            attachments=attachments,
            signature=signature,
            variants=tuple(dict.fromkeys(self.notes)),
        )

    # -- the letter ---------------------------------------------------------------------------

    def _letter(self, mh: _Node) -> MessageHeader:
        from_ = self._single_from(mh)
        tos = mh.kids("To")
        if not tos:
            raise InvalidError(
                "a letter needs at least one recipient (To)",
                where="MessageHeader/To",
                line=mh.line,
                code="no_recipient",
            )
        code_node = mh.need("Code")
        if code_node.one("CodeNumber") is None and code_node.one("CodeNotation") is None:
            # A few senders write Code as one text, number/notation.
            whole = code_node.text() or ""
            number, sep, notation = whole.partition("/")
            if not sep:
                raise code_node.missing("CodeNumber")
            code = Code(number.strip(), notation.strip())
            self.notes.append(
                Variant("code_as_text", code_node.path, f"Code written as one text {whole!r}")
            )
        else:
            code = Code(code_node.req("CodeNumber"), code_node.req("CodeNotation"))
        promulgation = mh.need("PromulgationInfo")
        date = promulgation.date("PromulgationDate", required=True)
        assert date is not None
        doc_type = mh.need("DocumentType")
        type_number = doc_type.conv("Type", _int, required=True)
        assert type_number is not None
        signer = mh.one("SignerInfo")
        to_places = mh.one("ToPlaces")
        steering = mh.conv("SteeringType", _int)
        return MessageHeader(
            from_=from_,
            to=[self._organization(t) for t in tos],
            document_id=mh.req("DocumentId"),
            code=code,
            promulgation_info=PromulgationInfo(promulgation.opt("Place"), date),
            document_type=DocumentType(
                type_number, doc_type.conv("TypeDetail", _int), doc_type.opt("TypeName")
            ),
            subject=mh.req("Subject"),
            content=mh.opt("Content"),
            signer_info=self._signer(signer) if signer is not None else None,
            due_date=mh.date("DueDate"),
            other_info=self._other_info(mh.one("OtherInfo")),
            response_for=[self._response_for(r) for r in mh.kids("ResponseFor")],
            steering_type=steering if steering is not None else 0,
            to_places=[p for n in to_places.kids("Place") if (p := n.text())]
            if to_places is not None
            else [],
        )

    def _single_from(self, mh: _Node) -> Organization:
        froms = mh.kids("From")
        if not froms:
            raise mh.missing("From")
        if len(froms) > 1:
            raise InvalidError(
                f"{len(froms)} From elements; a package has exactly one sender",
                where="MessageHeader/From",
                line=froms[1].line,
                code="several_senders",
            )
        return self._organization(froms[0])

    def _organization(self, node: _Node) -> Organization:
        return Organization(
            organ_id=node.organ(),
            organization_in_charge=node.opt("OrganizationInCharge"),
            organ_name=node.opt("OrganName"),
            organ_add=node.opt("OrganAdd"),
            email=node.opt("Email"),
            telephone=node.opt("Telephone"),
            fax=node.opt("Fax"),
            website=node.opt("Website"),
        )

    def _signer(self, node: _Node) -> SignerInfo | None:
        signer = SignerInfo(node.opt("Competence"), node.opt("Position"), node.opt("FullName"))
        return signer if signer != SignerInfo() else None

    def _other_info(self, node: _Node | None) -> OtherInfo | None:
        if node is None:
            return None
        appendixes = node.one("Appendixes")
        info = OtherInfo(
            priority=node.conv("Priority", _int),
            sphere_of_promulgation=node.opt("SphereOfPromulgation"),
            typer_notation=node.opt("TyperNotation"),
            promulgation_amount=node.conv("PromulgationAmount", _int),
            page_amount=node.conv("PageAmount", _int),
            direction=node.conv("Direction", _bool),
            appendixes=[a for n in appendixes.kids("Appendix") if (a := n.text())]
            if appendixes is not None
            else [],
        )
        return info if info != OtherInfo() else None

    def _response_for(self, node: _Node) -> ResponseFor:
        code_node = node.one("Code")
        code: str | None = None
        if code_node is not None:
            number, notation = code_node.opt("CodeNumber"), code_node.opt("CodeNotation")
            code = f"{number}/{notation}" if number and notation else code_node.text()
        return ResponseFor(
            organ_id=node.organ(),
            code=code,
            document_id=node.req("DocumentId"),
            promulgation_date=node.date("PromulgationDate"),
        )

    # -- the receipt --------------------------------------------------------------------------

    def _status(self, mh: _Node) -> StatusMessage:
        from_ = self._single_from(mh)
        responses = mh.kids("ResponseFor")
        if not responses:
            raise mh.missing("ResponseFor")
        if len(responses) > 1:
            raise InvalidError(
                f"{len(responses)} ResponseFor elements; a Status answers exactly one letter",
                where="MessageHeader/ResponseFor",
                line=responses[1].line,
                code="several_responses",
            )
        status_code = mh.conv("StatusCode", _status_code, required=True)
        assert status_code is not None
        written = mh.opt("StatusCode")
        if written != status_code.code:
            self.notes.append(
                Variant(
                    "status_code_form",
                    "MessageHeader/StatusCode",
                    f"{written!r} read as {status_code.code}",
                )
            )
        timestamp = mh.timestamp("Timestamp")
        staff = mh.one("StaffInfo")
        return StatusMessage(
            from_=from_,
            response_for=self._response_for(responses[0]),
            status_code=status_code,
            timestamp=timestamp,
            staff_info=self._staff(staff) if staff is not None else None,
            description=mh.opt("Description"),
        )

    def _staff(self, node: _Node) -> StaffInfo | None:
        staff = StaffInfo(
            department=node.opt("Department"),
            staff=node.opt("Staff"),
            email=node.opt("Email"),
            mobile=node.opt("Mobile"),
        )
        return staff if staff != StaffInfo() else None

    # -- trace and business -------------------------------------------------------------------

    def _trace(self, node: _Node) -> TraceHeaderList:
        hops = []
        for hop in node.kids("TraceHeader"):
            timestamp = hop.timestamp("Timestamp")
            hops.append(TraceHeader(hop.organ(), timestamp))
        business = node.one("Bussiness")
        return TraceHeaderList(
            bussiness=self._bussiness(business) if business is not None else None,
            trace_headers=hops,
        )

    def _bussiness(self, node: _Node) -> Bussiness:
        doc_type = node.conv("BussinessDocType", _doc_type)
        infos = []
        for info in node.kids("BussinessDocumentInfo"):
            receivers = []
            receiver_list = info.one("ReceiverList")
            if receiver_list is not None:
                for receiver in receiver_list.kids("Receiver"):
                    receivers.append(
                        Receiver(receiver.organ(), receiver.conv("ReceiverType", _int))
                    )
            infos.append(
                BussinessDocumentInfo(
                    document_info=info.opt("DocumentInfo"),
                    document_receiver=info.opt("DocumentReceiver"),
                    receivers=receivers,
                )
            )
        replacements = []
        for replacement_list in node.kids("ReplacementInfoList"):
            for replacement in replacement_list.kids("ReplacementInfo"):
                organ_list = replacement.one("OrganIdList")
                organs = (
                    [n.organ_text() for n in organ_list.kids("OrganId")]
                    if organ_list is not None
                    else []
                )
                replacements.append(ReplacementInfo(replacement.req("DocumentId"), organs))
        staff = [s for n in node.kids("StaffInfo") if (s := self._staff(n)) is not None]
        return Bussiness(
            bussiness_doc_type=doc_type if doc_type is not None else BussinessDocType.NEW,
            document_id=node.opt("DocumentId"),
            bussiness_doc_reason=node.opt("BussinessDocReason"),
            paper=node.conv("Paper", _int),
            bussiness_document_info=infos,
            replacement_info_list=replacements,
            staff_info=staff,
        )

    # -- body and attachments -----------------------------------------------------------------

    def _reference(self, node: _Node) -> ManifestReference:
        content_id = node.opt("ContentId")
        if content_id is None:
            # Some writers carry the reference only as xlink:href="cid:…".
            content_id = node.el.get("{http://www.w3.org/1999/xlink}href")
            if content_id:
                self.notes.append(
                    Variant(
                        "reference_xlink_href",
                        node.path,
                        f"ContentId read from xlink:href {content_id!r}",
                    )
                )
        if not content_id:
            raise node.missing("ContentId")
        cid = strip_cid(content_id)
        about = f"manifest reference {cid!r}"
        return ManifestReference(
            content_id=cid,
            content_type=node.checked(
                "ContentType", check_content_type, code="bad_content_type", about=about
            ),
            description=node.opt("Description"),
            attachment_name=node.checked(
                "AttachmentName", check_attachment_name, code="bad_attachment_name", about=about
            ),
        )

    def _attachment(self, node: _Node) -> Attachment:
        content_id = strip_cid(node.req("ContentId"))
        encoded = node.one("ContentTransferEncoded")
        if encoded is None:
            raise node.missing("ContentTransferEncoded")
        streamed = self.streamed.get(node.el) if self.streamed is not None else None
        if streamed is None:
            decoder = _Base64Decoder(None)
            try:
                decoder.feed(encoded.el.text or "")
                streamed = decoder.finish()
            except ValueProblem as exc:
                raise encoded.fail(f"the attachment {exc}", "bad_base64") from None
        about = f"attachment {content_id!r}"
        return Attachment(
            content_id=content_id,
            name=node.checked(
                "AttachmentName", check_attachment_name, code="bad_attachment_name", about=about
            ),
            content_type=node.checked(
                "ContentType", check_content_type, code="bad_content_type", about=about
            ),
            description=node.opt("Description"),
            size=streamed.size,
            sha256=streamed.sha256,
            data=streamed.data,
            inner_name=streamed.inner_name,
        )


def _status_code(text: str) -> StatusCode:
    try:
        return StatusCode.from_code(text)
    except ValueError as exc:
        raise ValueProblem(str(exc)) from None


def _doc_type(text: str) -> BussinessDocType:
    number = _int(text)
    try:
        return BussinessDocType(number)
    except ValueError:
        raise ValueProblem(
            f"{text!r} is not a BussinessDocType (0 new, 1 recall, 2 update, 3 replace)"
        ) from None


def _signature_kind(holders: list[_Node]) -> SignatureKind:
    for holder in holders:
        for child in holder.el:
            if not isinstance(child.tag, str):
                continue
            local = etree.QName(child).localname
            if local == "Signature" and _ns(child) == DSIG_NS:
                value = child.find(f"{{{DSIG_NS}}}SignatureValue")
                signed = child.find(f"{{{DSIG_NS}}}SignedInfo")
                if value is not None and signed is not None and (value.text or "").strip():
                    return SignatureKind.XMLDSIG
                return SignatureKind.PLACEHOLDER
            if local in ("Signature", "DigitalSignature"):
                return SignatureKind.PLACEHOLDER
    return SignatureKind.NONE
