"""Our strict XSD (edoc/schema/edxml.xsd) applied to what WE write; incoming packages are checked
by meaning instead, since a schema that fixes child order would refuse real ones."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any

from lxml import etree

from edoc.errors import InvalidError
from edoc.reader import Limits, parse_tree

_PREFIX = re.compile(r"^[^:/\[\]]+:")


@cache
def _schema() -> etree.XMLSchema:
    text = resources.files("edoc").joinpath("schema/edxml.xsd").read_bytes()
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.fromstring(text, parser))


def validate_written(data: bytes, *, limits: Limits | None = None) -> None:
    """Raise InvalidError (element path and line) unless `data` is edXML as we write it."""
    root = parse_tree(data, limits=limits)
    schema = _schema()
    if schema.validate(root):
        return
    log: Any = schema.error_log  # lxml-stubs leave _ErrorLog opaque
    error = log[0]
    raise InvalidError(
        _message(str(error.message)),
        where=_path(str(error.path) if error.path else None),
        line=int(error.line) or None,
        code="schema",
    )


def _path(xpath: str | None) -> str | None:
    """libxml2's `/edXML/edXML:edXMLEnvelope/...[2]` as our `MessageHeader/To[2]/OrganId`."""
    if not xpath:
        return None
    steps = [_PREFIX.sub("", step) for step in xpath.strip("/").split("/")]
    names = [step.split("[")[0] for step in steps]
    for anchor in ("MessageHeader", "TraceHeaderList", "edXMLManifest", "AttachmentEncoded"):
        if anchor in names:
            return "/".join(steps[names.index(anchor) :])
    return "/".join(steps)


def _message(text: str) -> str:
    # libxml2 names elements as {namespace}Local; the namespace is the same everywhere.
    return re.sub(r"\{[^}]*\}", "", text).removeprefix("Element ").strip()
