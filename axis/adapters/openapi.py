"""The OpenAPI 3 description of /v1, served at /v1/openapi.json and checked by schemathesis."""

from __future__ import annotations

from typing import Any

# Every error example below is a real answer of the axis (ids aside); tests/axis/test_openapi.py
# provokes each one on a running hub and compares code, where and fields.
ERROR_EXAMPLES: dict[str, tuple[int, str, dict[str, Any]]] = {
    "missing_token": (
        401,
        "No bearer token",
        {
            "code": "unauthorized",
            "message": "send the agency's API token as 'Authorization: Bearer <token>'",
            "where": "Authorization",
        },
    ),
    "invalid_token": (
        401,
        "A token the axis does not know (or a disabled agency's)",
        {
            "code": "unauthorized",
            "message": "the API token is not valid",
            "where": "Authorization",
        },
    ),
    "bad_wait": (
        400,
        "wait is not a number of seconds between 0 and 60",
        {
            "code": "bad_request",
            "message": "wait must be a number of seconds, not 'soon'",
            "where": "wait",
        },
    ),
    "bad_limit": (
        400,
        "limit is not a whole number between 1 and 500",
        {"code": "bad_request", "message": "limit must be between 1 and 500", "where": "limit"},
    ),
    "bad_state": (
        400,
        "state is not one of the four states",
        {
            "code": "bad_request",
            "message": "state must be one of queued, available, acknowledged, failed, overdue",
            "where": "state",
        },
    ),
    "empty_body": (
        400,
        "Nothing was sent",
        {
            "code": "bad_request",
            "message": "the body is empty; send the signed edXML package as the body",
            "where": "body",
        },
    ),
    "malformed": (
        400,
        "The body is not well-formed XML; details.line says where",
        {
            "code": "malformed",
            "message": "not well-formed XML: the document ends before its root element is closed (line 1)",
            "details": {"line": 1},
        },
    ),
    "invalid": (
        400,
        "Well-formed, but against the edXML schema: the element path and line say where",
        {
            "code": "bad_value",
            "message": "MessageHeader/PromulgationInfo/PromulgationDate: '30/09/15' is ambiguous: no single four-digit year tells yyyy/MM/dd from dd/MM/yyyy (line 21)",
            "where": "MessageHeader/PromulgationInfo/PromulgationDate",
            "details": {"line": 21},
        },
    ),
    "bad_organ_id": (
        400,
        "An OrganId that is no organ code (an abbreviation, a name)",
        {
            "code": "bad_organ_id",
            "message": "MessageHeader/To/OrganId: 'BTTTT' is not an organ code: expected dot-separated groups of letters and digits such as 000.00.00.G22 (or the older 28.22.H17) (line 12)",
            "where": "MessageHeader/To/OrganId",
            "details": {"line": 12},
        },
    ),
    "manifest_problem": (
        400,
        "The manifest and the attachments disagree; details.problems lists every disagreement",
        {
            "code": "reference_without_attachment",
            "message": "the manifest names ContentId 'phu-luc' but no attachment has it",
            "where": "edXMLManifest/Reference[1]/ContentId",
            "details": {
                "content_id": "phu-luc",
                "problems": [
                    {
                        "code": "reference_without_attachment",
                        "message": "the manifest names ContentId 'phu-luc' but no attachment has it",
                        "where": "edXMLManifest/Reference[1]/ContentId",
                        "content_id": "phu-luc",
                    }
                ],
            },
        },
    ),
    "field_too_long": (
        413,
        "A text field is over its limit (docs/EDXML.md lists them); where names the field",
        {
            "code": "field_too_long",
            "message": "MessageHeader/Subject: 2001 characters; the limit is 2000 (line 27)",
            "where": "MessageHeader/Subject",
            "details": {"line": 27},
        },
    ),
    "signature_missing": (
        403,
        "The package is not signed with XML-DSig",
        {
            "code": "signature_invalid",
            "message": "the package carries no signature; 000.00.00.G22 must sign with XML-DSig (SHA-256 or stronger)",
            "where": "edXMLHeader/Signature",
            "details": {"reason": "signature_missing"},
        },
    ),
    "from_not_caller": (
        403,
        "From names another agency than the token's",
        {
            "code": "forbidden",
            "message": "From is 000.00.00.G22 but the caller is 000.00.00.H41",
            "where": "MessageHeader/From/OrganId",
        },
    ),
    "conflict": (
        409,
        "This DocumentId was sent before with other bytes",
        {
            "code": "conflict",
            "message": "DocumentId 000.00.00.G22,2026/11/23,15/VPCP-TTĐT was already sent by 000.00.00.G22 with other content",
            "where": "MessageHeader/DocumentId",
            "details": {"document_id": "019ab1f0-7c3e-7a10-9c1e-5b2f0e6d4a11"},
        },
    ),
    "not_a_status": (
        400,
        "A letter was posted where a Status package belongs",
        {
            "code": "bad_request",
            "message": "this is a letter, not a Status package; send letters to /v1/documents",
            "where": "MessageHeader",
        },
    ),
    "status_out_of_order": (
        409,
        "The status cannot follow the recipient's current one",
        {
            "code": "conflict",
            "message": "the letter is already 06 (done); nothing can follow it",
            "where": "MessageHeader/StatusCode",
            "details": {
                "current": "06",
                "posted": "03",
                "delivery_id": "019ab1f0-7c3e-7a10-9c1e-5b2f0e6d4a12",
            },
        },
    ),
    "too_large": (
        413,
        "Over the size limit (AXIS_MAX_DOCUMENT_BYTES)",
        {
            "code": "too_large",
            "message": "the body is 9216 bytes; the limit here is 8192 bytes",
            "where": "body",
        },
    ),
    "unsupported_encoding": (
        415,
        "The body was sent compressed (Content-Encoding); the axis takes it only as it is",
        {
            "code": "unsupported_encoding",
            "message": "the body is sent with Content-Encoding gzip; the axis takes a body only as it is (identity): send it uncompressed",
            "where": "Content-Encoding",
        },
    ),
    "unknown_recipient": (
        422,
        "A recipient in To is not registered, or disabled",
        {
            "code": "unprocessable",
            "message": "recipients the axis cannot deliver to (not registered: 000.00.00.Z99)",
            "where": "MessageHeader/To/OrganId",
            "details": {"unknown": ["000.00.00.Z99"], "disabled": []},
        },
    ),
    "document_not_found": (
        404,
        "No such document (or not sent by, nor addressed to, the caller)",
        {
            "code": "not_found",
            "message": "no document 019ab1f0-7c3e-7a10-9c1e-5b2f0e6d4a11 addressed to or sent by 000.00.00.H41",
            "where": "document",
        },
    ),
    "attachment_not_found": (
        404,
        "The letter has no such attachment",
        {
            "code": "not_found",
            "message": "document 019ab1f0-7c3e-7a10-9c1e-5b2f0e6d4a11 has no attachment '9'",
            "where": "attachment",
        },
    ),
    "receipt_not_sender": (
        400,
        "Only the sender has the acceptance receipt",
        {
            "code": "bad_request",
            "message": "only the sender of a letter has its acceptance receipt",
            "where": "document",
        },
    ),
    "delivery_not_found": (
        404,
        "No such delivery for the caller",
        {
            "code": "not_found",
            "message": "no delivery 019ab1f0-7c3e-7a10-9c1e-5b2f0e6d4a11 for 000.00.00.H41",
            "where": "delivery",
        },
    ),
    "audit_not_covered": (
        503,
        "The audit chain has not reached the letter yet",
        {
            "code": "audit_not_covered",
            "message": "the audit chain has not caught up with this letter yet; try again in a few seconds",
            "where": "audit",
        },
    ),
    "bad_inline": (
        400,
        "inline is not 1 or 0",
        {
            "code": "bad_request",
            "message": "inline must be 1 or 0, not 'yes please'",
            "where": "inline",
        },
    ),
    "ack_ids_not_a_list": (
        400,
        'Not JSON, no "ids", not a list, empty, or more than 500 of them',
        {
            "code": "bad_request",
            "message": '"ids" holds 501 ids; at most 500 per call',
            "where": "ids",
        },
    ),
    "not_a_sealed_status": (
        404,
        "The document is not a status 01 sealed in a batch (or not the caller's to see)",
        {
            "code": "not_found",
            "message": "document 0192f0c1-7a2b-7c3d-8e4f-5a6b7c8d9e0f is not a status sealed in a batch "
            "(status 01 written by the axis is; a posted status carries its own XML signature)",
            "where": "document",
        },
    ),
    "dependency_unavailable": (
        503,
        "PostgreSQL or RabbitMQ does not answer; retry later",
        {
            "code": "dependency_unavailable",
            "message": "postgresql is unavailable: OSError: Connect call failed ('127.0.0.1', 5432)",
            "where": "postgresql",
        },
    ),
}

_STATUS_TEXT = {
    400: "The request is malformed; the body names what and where",
    401: "No valid API token",
    403: "Refused: the signature or the sender does not match the caller",
    404: "Not found, or not the caller's to see",
    409: "Conflicts with an earlier letter",
    413: "Too large",
    415: "Compressed bodies are refused: send the bytes as they are",
    422: "Cannot be delivered as addressed",
    503: "A dependency is unavailable; nothing was done, retry later",
}


def _errors(*names: str) -> dict[str, Any]:
    """Error responses of one operation, each status with the examples named."""
    by_status: dict[int, list[str]] = {}
    for name in (*names, "missing_token", "invalid_token", "dependency_unavailable"):
        by_status.setdefault(ERROR_EXAMPLES[name][0], []).append(name)
    return {
        str(status): {
            "description": _STATUS_TEXT[status],
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/Error"},
                    "examples": {
                        name: {
                            "summary": ERROR_EXAMPLES[name][1],
                            "value": {"error": ERROR_EXAMPLES[name][2]},
                        }
                        for name in examples
                    },
                }
            },
        }
        for status, examples in sorted(by_status.items())
    }


_ERROR_SCHEMA = {
    "type": "object",
    "description": "Every refusal: a machine code, a message for people, and where the problem is.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "Stable, for programs"},
                "message": {"type": "string", "description": "For people; may change"},
                "where": {
                    "type": "string",
                    "description": "The parameter, header or edXML element path at fault",
                },
                "details": {"description": "Facts a program can act on (line, reason, ids)"},
            },
        }
    },
}
_REQUEST_ID = {
    "X-Request-Id": {
        "description": "The request's id in the axis's logs (taken from the request's own when sane)",
        "schema": {"type": "string"},
    }
}


_ID = {"type": "string", "format": "uuid"}
_DT = {"type": "string", "format": "date-time"}

_ITEM = {
    "type": "object",
    "required": [
        "delivery_id",
        "document_id",
        "kind",
        "sender",
        "recipient",
        "state",
        "received_at",
    ],
    "properties": {
        "delivery_id": _ID,
        "document_id": _ID,
        "kind": {"type": "string", "enum": ["letter", "status"]},
        "sender": {"type": "string", "example": "000.00.00.G22"},
        "recipient": {"type": "string", "example": "000.00.00.H41"},
        "state": {"type": "string", "enum": ["queued", "available", "acknowledged", "failed"]},
        "edxml_document_id": {"type": "string"},
        "business_type": {
            "type": "integer",
            "description": "BussinessDocType: 0 new, 1 recall, 2 update, 3 replace",
        },
        "status_code": {
            "type": ["string", "null"],
            "description": "For a status: 01…06, 13, 15, 16",
        },
        "responds_to": {"type": ["string", "null"], "format": "uuid"},
        "subject": {"type": ["string", "null"]},
        "code": {"type": ["string", "null"], "example": "7816/VPCP-TTĐT"},
        "size": {"type": "integer"},
        "signature": {
            "type": "string",
            "enum": ["xmldsig", "legacy", "axis", "axis-batch"],
            "description": "axis-batch: a status 01 the axis sealed in a batch (GET /v1/documents/{id}/seal)",
        },
        "unsigned_legacy": {"type": "boolean"},
        "received_at": _DT,
        "available_at": {"type": ["string", "null"], "format": "date-time"},
        "acknowledged_at": {"type": ["string", "null"], "format": "date-time"},
        "attempts": {"type": "integer"},
        "last_error": {"type": ["string", "null"]},
        "already_acknowledged": {"type": "boolean"},
        "business_status": {
            "type": ["string", "null"],
            "description": "The recipient's latest status code about the letter (01…06)",
        },
        "due_date": {"type": ["string", "null"], "format": "date"},
        "overdue": {
            "type": "boolean",
            "description": "Not acknowledged in time (AXIS_ACK_OVERDUE_SECONDS), or past DueDate "
            "without 06 (done) or 02 (refused)",
        },
        "package_base64": {
            "type": "string",
            "contentEncoding": "base64",
            "description": "With GET /v1/inbox?inline=1, a package of at most 64 KiB: its stored "
            "bytes, as GET /v1/documents/{id} gives them. Absent: fetch it.",
        },
    },
}

_ACK_RESULTS = {
    "type": "object",
    "required": ["acknowledged", "already_acknowledged", "refused", "results"],
    "properties": {
        "acknowledged": {"type": "integer", "description": "Acknowledged by this call"},
        "already_acknowledged": {"type": "integer"},
        "refused": {"type": "integer", "description": "Ids answered with an error"},
        "results": {
            "type": "array",
            "description": "One per id sent, in the same order",
            "items": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["id", "ok", "already_acknowledged", "delivery"],
                        "properties": {
                            "id": {"type": "string"},
                            "ok": {"type": "boolean", "enum": [True]},
                            "already_acknowledged": {"type": "boolean"},
                            "delivery": {"$ref": "#/components/schemas/DeliveryItem"},
                        },
                    },
                    {
                        "type": "object",
                        "required": ["id", "ok", "error"],
                        "properties": {
                            "id": {
                                "type": ["string", "null"],
                                "description": "As sent (cut to 100 characters); null if not a string",
                            },
                            "ok": {"type": "boolean", "enum": [False]},
                            "error": {
                                "type": "object",
                                "required": ["code", "message", "where"],
                                "properties": {
                                    "code": {
                                        "type": "string",
                                        "enum": [
                                            "bad_request",
                                            "duplicate",
                                            "not_found",
                                            "internal_error",
                                        ],
                                    },
                                    "message": {"type": "string"},
                                    "where": {"type": "string", "example": "ids[3]"},
                                },
                            },
                        },
                    },
                ]
            },
        },
    },
}

_STATUS_SEAL = {
    "type": "object",
    "description": "Where a status 01 sits in the batch the axis sealed: check it offline with "
    "`axis audit check-proof seal.json --package status.xml --seal-cert seal.crt`",
    "required": [
        "type",
        "version",
        "document_id",
        "package_sha256",
        "leaf",
        "index",
        "path",
        "batch",
    ],
    "properties": {
        "type": {"type": "string", "enum": ["axis.status.seal"]},
        "version": {"type": "integer"},
        "document_id": _ID,
        "responds_to": _ID,
        "package_sha256": {"type": "string"},
        "leaf": {"type": "string", "description": "SHA-256 of the byte 0x00 and the package"},
        "index": {"type": "integer"},
        "path": {
            "type": "array",
            "description": "From the leaf up to the batch's root",
            "items": {
                "type": "object",
                "required": ["side", "hash"],
                "properties": {
                    "side": {"type": "string", "enum": ["left", "right"]},
                    "hash": {"type": "string"},
                },
            },
        },
        "hashing": {"type": "object"},
        "batch": {"$ref": "#/components/schemas/Sealed"},
    },
}

_SEALED = {
    "type": "object",
    "description": "A statement signed by the axis's seal: check it offline with the axis's certificate.",
    "required": ["payload", "signature", "alg"],
    "properties": {
        "payload": {"type": "object"},
        "signature": {"type": "string"},
        "alg": {"type": "string"},
    },
    "additionalProperties": True,
}

_ACCEPTED = {
    "type": "object",
    "required": ["document_id", "status", "deliveries", "receipt"],
    "properties": {
        "document_id": _ID,
        "status": {"type": "string", "enum": ["accepted"]},
        "signature": {"type": "string", "enum": ["xmldsig", "legacy"]},
        "unsigned_legacy": {"type": "boolean"},
        "links": {
            "type": "array",
            "description": "The earlier letters a recall, update or replacement refers to",
            "items": {
                "type": "object",
                "required": ["document_id", "kind"],
                "properties": {
                    "document_id": _ID,
                    "kind": {"type": "string", "enum": ["recall", "update", "replace"]},
                },
            },
        },
        "deliveries": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["delivery_id", "recipient"],
                "properties": {"delivery_id": _ID, "recipient": {"type": "string"}},
            },
        },
        "receipt": {"$ref": "#/components/schemas/Sealed"},
    },
}

_STATUS_ACCEPTED = {
    "type": "object",
    "required": [
        "document_id",
        "status",
        "kind",
        "status_code",
        "responds_to",
        "deliveries",
        "receipt",
    ],
    "properties": {
        "document_id": _ID,
        "status": {"type": "string", "enum": ["accepted"]},
        "kind": {"type": "string", "enum": ["status"]},
        "status_code": {"type": "string", "example": "03"},
        "responds_to": _ID,
        "signature": {"type": "string", "enum": ["xmldsig", "legacy"]},
        "unsigned_legacy": {"type": "boolean"},
        "deliveries": _ACCEPTED["properties"]["deliveries"],  # type: ignore[index]
        "receipt": {"$ref": "#/components/schemas/Sealed"},
    },
}

_NULLABLE_DT = {"type": ["string", "null"], "format": "date-time"}
_TRACE = {
    "type": "object",
    "description": "A letter's life: each recipient's delivery and statuses, hops and linked letters. "
    "A recipient sees its own line only.",
    "required": ["document_id", "kind", "sender", "recipients", "hops", "recall"],
    "properties": {
        "document_id": _ID,
        "kind": {"type": "string", "enum": ["letter", "status"]},
        "sender": {"type": "string"},
        "edxml_document_id": {"type": "string"},
        "business_type": {"type": "integer"},
        "subject": {"type": ["string", "null"]},
        "signature": {"type": "string", "enum": ["xmldsig", "legacy", "axis"]},
        "unsigned_legacy": {"type": "boolean"},
        "received_at": _DT,
        "due_date": {"type": ["string", "null"]},
        "hops": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"organ_id": {"type": "string"}, "timestamp": {"type": "string"}},
            },
        },
        "refers_to": {"type": "array", "items": {"type": "object"}},
        "referred_by": {"type": "array", "items": {"type": "object"}},
        "recall": {
            "type": "object",
            "properties": {
                "asked": {"type": "boolean"},
                "agreed_by": {"type": "array", "items": {"type": "string"}},
                "refused_by": {"type": "array", "items": {"type": "string"}},
            },
        },
        "recipients": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["organ_id", "delivery_id", "state", "statuses"],
                "properties": {
                    "organ_id": {"type": "string"},
                    "name": {"type": "string"},
                    "delivery_id": _ID,
                    "state": _ITEM["properties"]["state"],  # type: ignore[index]
                    "available_at": _NULLABLE_DT,
                    "acknowledged_at": _NULLABLE_DT,
                    "failed_at": _NULLABLE_DT,
                    "last_error": {"type": ["string", "null"]},
                    "current_status": {"type": ["string", "null"]},
                    "statuses": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["status_document_id", "code", "posted_by", "at"],
                            "properties": {
                                "status_document_id": _ID,
                                "code": {"type": "string"},
                                "label_vi": {"type": ["string", "null"]},
                                "label_en": {"type": ["string", "null"]},
                                "posted_by": {"type": "string"},
                                "by": {"type": "string", "enum": ["axis", "agency"]},
                                "at": _DT,
                                "description": {"type": ["string", "null"]},
                            },
                        },
                    },
                },
            },
        },
    },
}

_PATH_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}

_HEX = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_LINK_FIELDS: dict[str, Any] = {
    "chain_seq": {"type": "integer", "minimum": 1},
    "prev_hash": _HEX,
    "content_hash": _HEX,
    "hash": _HEX,
}
_LINK = {"type": "object", "required": list(_LINK_FIELDS), "properties": _LINK_FIELDS}
_PROOF = {
    "type": "object",
    "description": "Check it offline with `axis audit check-proof FILE --seal-cert AXIS_SEAL.crt`.",
    "required": ["type", "version", "document_id", "entries", "segments"],
    "properties": {
        "type": {"type": "string", "enum": ["axis.audit.proof"]},
        "version": {"type": "integer", "enum": [2]},
        "document_id": _ID,
        "hashing": {"type": "object", "description": "How the hashes are made, in words"},
        "view": {
            "type": "object",
            "description": "Whose proof this is: the sender (and the operator) see every entry; "
            "a recipient sees the sender's entries and its own, the other recipients' as hashes only",
            "properties": {
                "role": {"type": "string", "enum": ["sender", "recipient", "operator"]},
                "organ_id": {"type": ["string", "null"]},
            },
        },
        "entries": {
            "type": "array",
            "description": "Every audit entry about the letter, oldest first: with its content, or "
            "(another recipient's, in a recipient's proof) redacted to its hashes, which still chain",
            "items": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": [*_LINK_FIELDS, "content"],
                        "properties": {
                            **_LINK_FIELDS,
                            "content": {
                                "type": "object",
                                "required": ["id", "at", "event", "details"],
                                "properties": {
                                    "id": {"type": "integer"},
                                    "at": _DT,
                                    "event": {"type": "string", "example": "acknowledged"},
                                    "organ_id": {"type": ["string", "null"]},
                                    "document_id": {"type": ["string", "null"], "format": "uuid"},
                                    "delivery_id": {"type": ["string", "null"], "format": "uuid"},
                                    "details": {"type": "object"},
                                },
                            },
                        },
                    },
                    {
                        "type": "object",
                        "required": [*_LINK_FIELDS, "redacted"],
                        "properties": {
                            **_LINK_FIELDS,
                            "redacted": {"type": "boolean", "enum": [True]},
                        },
                    },
                ],
            },
        },
        "segments": {
            "type": "array",
            "description": "For the entries, the unbroken links up to a checkpoint the axis sealed",
            "items": {
                "type": "object",
                "required": ["checkpoint", "links"],
                "properties": {
                    "checkpoint": {"$ref": "#/components/schemas/Sealed"},
                    "links": {"type": "array", "items": _LINK},
                },
            },
        },
    },
}


def error_examples() -> dict[str, tuple[int, str, dict[str, Any]]]:
    """The axis's error examples and every plug-in's."""
    merged = dict(ERROR_EXAMPLES)
    for part in _plugin_parts():
        merged.update(part.get("error_examples", {}))
    return merged


def _plugin_parts() -> list[dict[str, Any]]:
    from axis import plugins

    return [p.openapi() for p in plugins.load() if p.openapi is not None]


def document() -> dict[str, Any]:
    """The axis's own description with each plug-in's paths and schemas merged in."""
    doc = _axis_document()
    for part in _plugin_parts():
        for key, value in part.get("paths", {}).items():
            if key in doc["paths"]:
                raise ValueError(f"a plug-in describes {key}, which the axis already describes")
            doc["paths"][key] = value
        for key, value in part.get("schemas", {}).items():
            if key in doc["components"]["schemas"]:
                raise ValueError(f"a plug-in defines the schema {key}, which already exists")
            doc["components"]["schemas"][key] = value
    return doc


def _axis_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Trục liên thông văn bản — the document axis",
            "version": "1",
            "description": (
                "Agencies send signed edXML letters (QCVN 102:2016), receive them from their inbox or on their "
                "webhook, and acknowledge them. Every call carries the agency's API token as a bearer token. "
                'Errors are JSON: {"error": {"code", "message", "where"}}.'
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "DeliveryItem": _ITEM,
                "Sealed": _SEALED,
                "Accepted": _ACCEPTED,
                "StatusAccepted": _STATUS_ACCEPTED,
                "Trace": _TRACE,
                "AckResults": _ACK_RESULTS,
                "StatusSeal": _STATUS_SEAL,
                "Error": _ERROR_SCHEMA,
            },
        },
        "paths": {
            "/v1/openapi.json": {
                "get": {
                    "summary": "This document (public: no token needed)",
                    "operationId": "getOpenAPI",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "The OpenAPI 3.1 description of /v1",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
            "/v1/agencies": {
                "get": {
                    "summary": "The directory of agencies (address book of a DMS)",
                    "operationId": "listAgencies",
                    "responses": {
                        "200": {
                            "description": "Every registered agency",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["agencies"],
                                        "properties": {
                                            "agencies": {
                                                "type": "array",
                                                "items": {
                                                    "type": "object",
                                                    "required": ["organ_id", "name", "active"],
                                                    "properties": {
                                                        "organ_id": {"type": "string"},
                                                        "name": {"type": "string"},
                                                        "active": {"type": "boolean"},
                                                    },
                                                },
                                            }
                                        },
                                    },
                                    "example": {
                                        "agencies": [
                                            {
                                                "organ_id": "000.00.00.G22",
                                                "name": "Văn phòng Chính phủ",
                                                "active": True,
                                            }
                                        ]
                                    },
                                }
                            },
                        },
                        **_errors(),
                    },
                }
            },
            "/v1/documents": {
                "post": {
                    "summary": "Send a signed edXML letter",
                    "operationId": "sendDocument",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/xml": {"schema": {"type": "string", "format": "binary"}}
                        },
                    },
                    "responses": {
                        "202": {
                            "description": "Accepted: stored and routed to every recipient. Sending the same bytes again answers the same.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Accepted"}
                                }
                            },
                        },
                        **_errors(
                            "empty_body",
                            "malformed",
                            "invalid",
                            "bad_organ_id",
                            "manifest_problem",
                            "signature_missing",
                            "from_not_caller",
                            "conflict",
                            "too_large",
                            "unsupported_encoding",
                            "field_too_long",
                            "unknown_recipient",
                        ),
                    },
                }
            },
            "/v1/documents/{id}": {
                "get": {
                    "summary": "The original signed edXML bytes of a letter or status (sender and recipients only)",
                    "operationId": "getDocument",
                    "parameters": [_PATH_ID],
                    "responses": {
                        "200": {
                            "description": "The package",
                            "content": {
                                "application/xml": {
                                    "schema": {"type": "string", "format": "binary"}
                                }
                            },
                        },
                        **_errors("document_not_found"),
                    },
                }
            },
            "/v1/documents/{id}/attachments/{ref}": {
                "get": {
                    "summary": "One attachment, decoded, by position (1, 2, …) or ContentId",
                    "operationId": "getAttachment",
                    "parameters": [
                        _PATH_ID,
                        {
                            "name": "ref",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "The attachment's bytes",
                            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                        },
                        **_errors("document_not_found", "attachment_not_found"),
                    },
                }
            },
            "/v1/documents/{id}/receipt": {
                "get": {
                    "summary": "The acceptance receipt the axis sealed for the sender",
                    "operationId": "getReceipt",
                    "parameters": [_PATH_ID],
                    "responses": {
                        "200": {
                            "description": "The sealed receipt",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Sealed"}
                                }
                            },
                        },
                        **_errors("document_not_found", "receipt_not_sender"),
                    },
                }
            },
            "/v1/documents/{id}/status": {
                "post": {
                    "summary": "Report a status about a letter: a recipient posts 02…06 (or 15/16 to a recall), "
                    "the sender posts 13 (recall asked). The body is a signed edXML Status package.",
                    "operationId": "postStatus",
                    "parameters": [_PATH_ID],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/xml": {"schema": {"type": "string", "format": "binary"}}
                        },
                    },
                    "responses": {
                        "202": {
                            "description": "Accepted and routed to whoever must hear it. The same bytes again answer the same.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/StatusAccepted"}
                                }
                            },
                        },
                        **_errors(
                            "empty_body",
                            "malformed",
                            "not_a_status",
                            "signature_missing",
                            "document_not_found",
                            "status_out_of_order",
                            "too_large",
                            "unsupported_encoding",
                        ),
                    },
                }
            },
            "/v1/documents/{id}/trace": {
                "get": {
                    "summary": "Where a letter is: each recipient's delivery state and statuses, hops, links",
                    "operationId": "getTrace",
                    "parameters": [_PATH_ID],
                    "responses": {
                        "200": {
                            "description": "The letter's trace",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Trace"}
                                }
                            },
                        },
                        **_errors("document_not_found"),
                    },
                }
            },
            "/v1/documents/{id}/proof": {
                "get": {
                    "summary": "The audit log's entries about a letter and a sealed checkpoint that covers them (sender and recipients)",
                    "description": "Each entry carries the hash of the one before it; the links lead to a checkpoint "
                    "the axis sealed, chained and sealed on the spot when the latest entries are not covered yet. "
                    "The sender sees every entry; a recipient sees the sender's and its own, the other "
                    "recipients' only as their hashes (`redacted`). "
                    "Check the file offline with `axis audit check-proof`.",
                    "operationId": "getProof",
                    "parameters": [_PATH_ID],
                    "responses": {
                        "200": {
                            "description": "The proof",
                            "content": {"application/json": {"schema": _PROOF}},
                        },
                        **_errors("document_not_found", "audit_not_covered"),
                    },
                }
            },
            "/v1/documents/{id}/seal": {
                "get": {
                    "summary": "The batch seal of a status 01 the axis wrote (the letter's sender and that recipient)",
                    "description": "Status 01 (arrived) is sealed in batches after the acknowledgement: one "
                    "signature of the axis over a Merkle root of the batch's packages. This answers the "
                    "status's leaf, its path to the root and the sealed root; with the package "
                    "(GET /v1/documents/{id}) it checks offline with `axis audit check-proof`.",
                    "operationId": "getStatusSeal",
                    "parameters": [_PATH_ID],
                    "responses": {
                        "200": {
                            "description": "The status's seal",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/StatusSeal"}
                                }
                            },
                        },
                        **_errors("not_a_sealed_status"),
                    },
                }
            },
            "/v1/inbox": {
                "get": {
                    "summary": "Letters and statuses waiting for the caller, oldest first (long-poll with wait)",
                    "operationId": "getInbox",
                    "parameters": [
                        {
                            "name": "wait",
                            "in": "query",
                            "schema": {"type": "number", "minimum": 0, "maximum": 60},
                            "description": "Seconds to wait when nothing is there",
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                        },
                        {
                            "name": "inline",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["1", "0"]},
                            "description": "1: each package of at most 64 KiB comes in the answer "
                            "(package_base64), up to 2 MiB of them; the others are fetched as before",
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "Available deliveries",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["items"],
                                        "properties": {
                                            "items": {
                                                "type": "array",
                                                "items": {
                                                    "$ref": "#/components/schemas/DeliveryItem"
                                                },
                                            }
                                        },
                                    }
                                }
                            },
                        },
                        **_errors("bad_wait", "bad_limit", "bad_inline"),
                    },
                }
            },
            "/v1/deliveries/ack": {
                "post": {
                    "summary": "Acknowledge many deliveries in one call, each as POST /v1/deliveries/{id}/ack would. Idempotent.",
                    "description": "At most 500 ids. Each id is answered on its own line, in order: a "
                    "malformed id, a repeat of an earlier one or an id that is not one of the caller's "
                    "deliveries (not found, whoever's it is) does not stop the others.",
                    "operationId": "ackDeliveries",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["ids"],
                                    "properties": {
                                        "ids": {
                                            "type": "array",
                                            "minItems": 1,
                                            "maxItems": 500,
                                            "items": {"type": "string", "format": "uuid"},
                                        }
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "One result per id",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/AckResults"}
                                }
                            },
                        },
                        **_errors("ack_ids_not_a_list", "too_large"),
                    },
                }
            },
            "/v1/deliveries/{id}/ack": {
                "post": {
                    "summary": "Acknowledge a delivery: the sender receives status 01 (arrived), sealed "
                    "in a batch moments later. Idempotent.",
                    "operationId": "ackDelivery",
                    "parameters": [_PATH_ID],
                    "responses": {
                        "200": {
                            "description": "The delivery, acknowledged",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/DeliveryItem"}
                                }
                            },
                        },
                        **_errors("delivery_not_found"),
                    },
                }
            },
            "/v1/deliveries": {
                "get": {
                    "summary": "Deliveries of the letters the caller sent (or received), filtered by state",
                    "operationId": "listDeliveries",
                    "parameters": [
                        {
                            "name": "state",
                            "in": "query",
                            "schema": {
                                "type": "string",
                                "enum": [
                                    "queued",
                                    "available",
                                    "acknowledged",
                                    "failed",
                                    "overdue",
                                ],
                            },
                            "description": "overdue: see DeliveryItem.overdue",
                        },
                        {
                            "name": "role",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["sent", "received"]},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "Deliveries, newest first",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["items"],
                                        "properties": {
                                            "items": {
                                                "type": "array",
                                                "items": {
                                                    "$ref": "#/components/schemas/DeliveryItem"
                                                },
                                            }
                                        },
                                    }
                                }
                            },
                        },
                        **_errors("bad_state", "bad_limit"),
                    },
                }
            },
        },
    }
