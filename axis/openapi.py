"""The OpenAPI 3 description of /v1, served at /v1/openapi.json and checked by schemathesis."""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/responses/Error"}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): _ERROR for c in codes}


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
        "signature": {"type": "string", "enum": ["xmldsig", "legacy", "axis"]},
        "unsigned_legacy": {"type": "boolean"},
        "received_at": _DT,
        "available_at": {"type": ["string", "null"], "format": "date-time"},
        "acknowledged_at": {"type": ["string", "null"], "format": "date-time"},
        "attempts": {"type": "integer"},
        "last_error": {"type": ["string", "null"]},
        "already_acknowledged": {"type": "boolean"},
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

_PATH_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


def document() -> dict[str, Any]:
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
            "schemas": {"DeliveryItem": _ITEM, "Sealed": _SEALED, "Accepted": _ACCEPTED},
            "responses": {
                "Error": {
                    "description": "The request was refused; the body says what is wrong and where.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["error"],
                                "properties": {
                                    "error": {
                                        "type": "object",
                                        "required": ["code", "message"],
                                        "properties": {
                                            "code": {"type": "string"},
                                            "message": {"type": "string"},
                                            "where": {"type": "string"},
                                            "details": {},
                                        },
                                    }
                                },
                            },
                            "example": {
                                "error": {
                                    "code": "invalid",
                                    "message": "MessageHeader/PromulgationInfo/PromulgationDate: '30/09/2015' is not a date (line 17)",
                                    "where": "MessageHeader/PromulgationInfo/PromulgationDate",
                                }
                            },
                        }
                    },
                }
            },
        },
        "paths": {
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
                        **_errors(401, 503),
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
                        **_errors(400, 401, 403, 409, 413, 422, 503),
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
                        **_errors(401, 404, 503),
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
                        **_errors(401, 404, 503),
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
                        **_errors(400, 401, 404, 503),
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
                        **_errors(400, 401, 503),
                    },
                }
            },
            "/v1/deliveries/{id}/ack": {
                "post": {
                    "summary": "Acknowledge a delivery: the sender receives status 01 (arrived). Idempotent.",
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
                        **_errors(401, 404, 503),
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
                                "enum": ["queued", "available", "acknowledged", "failed"],
                            },
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
                        **_errors(400, 401, 503),
                    },
                }
            },
        },
    }
