"""The OpenAPI description of eCabinet's calls (/v1/cabinet, /v1/meetings). The axis merges it into
/v1/openapi.json through the plug-in's `openapi` hook; every error example below is a real answer
(tests/meetings/test_openapi.py provokes each one on a running hub)."""

from __future__ import annotations

from typing import Any

M = "019ab1f0-7c3e-7a10-9c1e-5b2f0e6d4a11"
P = "019ab1f0-7c3e-7a10-9c1e-5b2f0e6d4a12"
C = "019ab1f0-7c3e-7a10-9c1e-5b2f0e6d4a13"

ERROR_EXAMPLES: dict[str, tuple[int, str, dict[str, Any]]] = {
    "cabinet_missing_token": (
        401,
        "No bearer token",
        {
            "code": "unauthorized",
            "message": "sign in at POST /v1/cabinet/sessions and send 'Authorization: Bearer <token>'",
            "where": "Authorization",
        },
    ),
    "cabinet_invalid_token": (
        401,
        "Not a live cabinet session (an agency's API token is refused here)",
        {
            "code": "unauthorized",
            "message": "the token is not a live cabinet session (agency tokens are not accepted here)",
            "where": "Authorization",
        },
    ),
    "cabinet_login_refused": (
        401,
        "Wrong login or password (the same answer for both)",
        {
            "code": "login_refused",
            "message": "the login or the password is wrong",
            "where": "login",
        },
    ),
    "cabinet_locked_out": (
        429,
        "Too many wrong passwords: the login is locked for a while",
        {
            "code": "locked_out",
            "message": "thuky is locked until 2026-05-01T09:15:00+00:00",
            "where": "login",
        },
    ),
    "cabinet_not_json": (
        400,
        "The body is not a JSON object",
        {"code": "bad_request", "message": "the body must be a JSON object", "where": "body"},
    ),
    "cabinet_bad_field": (
        400,
        "A field is missing or has a bad value; where names it",
        {"code": "bad_request", "message": "title is required: non-empty text", "where": "title"},
    ),
    "cabinet_bad_rule": (
        400,
        "An unknown rule or a bad value; nothing is created",
        {
            "code": "bad_request",
            "message": "unknown rule 'quorum'; the rules are quorum_fraction, notice_days, take_back_on_close, majority_of, tie_break, silence, ballot_changes, reminders, member_signature_required",
            "where": "rules.quorum",
        },
    ),
    "cabinet_bad_number": (
        400,
        "A query parameter is not a number in range",
        {
            "code": "bad_request",
            "message": "after must be a whole number from 0, not 'soon'",
            "where": "after",
        },
    ),
    "cabinet_empty_file": (
        400,
        "An upload without bytes",
        {
            "code": "bad_request",
            "message": "the body is empty; send the file's bytes as the body",
            "where": "body",
        },
    ),
    "cabinet_secretariat_only": (
        403,
        "A secretariat call made by a member or deputy",
        {
            "code": "forbidden",
            "message": "only the secretariat (Government Office) may do this",
            "where": "person",
        },
    ),
    "cabinet_voters_only": (
        403,
        "A position from someone who does not vote (the secretariat, a deputy, a non-voting member)",
        {
            "code": "forbidden",
            "message": "only a voting member records a position",
            "where": "person",
        },
    ),
    "cabinet_meeting_started": (
        409,
        "Positions are taken before the meeting starts",
        {
            "code": "meeting_started",
            "message": f"meeting {M} started at 2026-05-10T01:00:00+00:00; positions are taken before it",
            "where": "meeting",
        },
    ),
    "cabinet_meeting_not_found": (
        404,
        "No such meeting, or not the caller's to see (not invited, or still a draft)",
        {"code": "not_found", "message": f"no meeting {M}", "where": "meeting"},
    ),
    "cabinet_paper_not_found": (
        404,
        "No such paper, or outside the caller's audience",
        {"code": "not_found", "message": f"meeting {M} has no paper {P}", "where": "paper"},
    ),
    "cabinet_notice_period": (
        409,
        "The first packet is later than notice_days before the meeting (send it urgent with a reason)",
        {
            "code": "notice_period",
            "message": "the papers must go out 3 days before the meeting (by 2026-05-07T01:00:00+00:00); "
            "send it urgent with a reason",
            "where": "starts_at",
        },
    ),
    "cabinet_no_change": (
        409,
        "Nothing new since the last packet, or the meeting is closed",
        {
            "code": "no_change",
            "message": "nothing changed since the last packet",
            "where": "meeting",
        },
    ),
    "cabinet_taken_back": (
        410,
        "The paper was taken back by the Government Office",
        {
            "code": "taken_back",
            "message": f"paper {P} was taken back by the Government Office",
            "where": "paper",
        },
    ),
    "cabinet_too_large": (
        413,
        "Over the size limit (AXIS_MAX_DOCUMENT_BYTES)",
        {
            "code": "too_large",
            "message": "the file is 9216 bytes; the limit is 8192",
            "where": "body",
        },
    ),
    "cabinet_unknown_file": (
        422,
        "No uploaded file (or letter attachment) with this reference",
        {
            "code": "unprocessable",
            "message": "no file '"
            + "0" * 64
            + "' was uploaded; POST it to /v1/cabinet/files first",
            "where": "file_sha256",
        },
    ),
    "consultation_not_found": (
        404,
        "No such consultation, or not the caller's to see (not asked, or still a draft)",
        {"code": "not_found", "message": f"no consultation {C}", "where": "consultation"},
    ),
    "consultation_not_asked": (
        403,
        "A ballot from a voting member who is not asked in this consultation",
        {
            "code": "not_asked",
            "message": "botaichinh is not asked in this consultation",
            "where": "person",
        },
    ),
    "consultation_signature_invalid": (
        403,
        "A ballot whose signature does not hold, whose certificate no trusted CA issued, or with none",
        {
            "code": "signature_invalid",
            "message": "the ballot carries no signature; sign it with your certificate (axis cabinet sign-ballot --key K --cert C)",
            "where": "signature",
            "details": {"reason": "signature_missing"},
        },
    ),
    "consultation_not_all_answered": (
        409,
        "Closing early before every asked member answered",
        {
            "code": "not_all_answered",
            "message": "1 asked member(s) have not answered; it closes by itself at the deadline",
            "where": "consultation",
            "details": {"not_answered": [P], "deadline": "2026-12-05T10:00:00+00:00"},
        },
    ),
    "consultation_unknown_organ": (
        422,
        "A requesting organ that is not an agency on the axis",
        {
            "code": "unprocessable",
            "message": "requested_by: no agency '000.00.00.X99' on the axis",
            "where": "requested_by",
        },
    ),
    "cabinet_unavailable": (
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
    401: "No live cabinet session (or a wrong login)",
    403: "A secretariat call by someone else",
    404: "Not found, or not the caller's to see",
    409: "The meeting's state does not allow it",
    410: "Taken back",
    413: "Too large",
    422: "The file or letter named is unknown",
    429: "Locked out after too many wrong passwords",
    503: "A dependency is unavailable; nothing was done, retry later",
}


def _errors(*names: str, public: bool = False) -> dict[str, Any]:
    """Error responses of one operation, each status with the examples named."""
    examples = ERROR_EXAMPLES
    extra = () if public else ("cabinet_missing_token", "cabinet_invalid_token")
    by_status: dict[int, list[str]] = {}
    for name in (*names, *extra, "cabinet_unavailable"):
        by_status.setdefault(examples[name][0], []).append(name)
    return {
        str(status): {
            "description": _STATUS_TEXT[status],
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/Error"},
                    "examples": {
                        name: {"summary": examples[name][1], "value": {"error": examples[name][2]}}
                        for name in found
                    },
                }
            },
        }
        for status, found in sorted(by_status.items())
    }


_ID = {"type": "string", "format": "uuid"}
_DT = {"type": "string", "format": "date-time"}
_TEXT_OR_NULL = {"type": ["string", "null"]}
_HEX = {"type": "string", "pattern": "^[0-9a-f]{64}$"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
    }


SCHEMAS: dict[str, Any] = {
    "CabinetPerson": _object(
        {
            "id": _ID,
            "login": {"type": "string"},
            "full_name": {"type": "string"},
            "kind": {"type": "string", "enum": ["secretariat", "member", "deputy"]},
            "title": _TEXT_OR_NULL,
            "votes": {"type": "boolean"},
            "chair": {"type": "boolean"},
        },
        {"active": {"type": "boolean"}},
    ),
    "CabinetRulesVersion": _object(
        {
            "version": {"type": "integer", "minimum": 1},
            "rules": _object(
                {
                    "quorum_fraction": {"type": "string"},
                    "notice_days": {"type": "integer"},
                    "take_back_on_close": {"type": "boolean"},
                    "majority_of": {"type": "string", "enum": ["all_members", "asked"]},
                    "tie_break": {"type": "string", "enum": ["chair", "none"]},
                    "silence": {"type": "string", "enum": ["no_reply", "agree"]},
                    "ballot_changes": {"type": "boolean"},
                    "reminders": {"type": "array", "items": {"type": "string"}},
                    "member_signature_required": {"type": "boolean"},
                }
            ),
            "note": _TEXT_OR_NULL,
            "created_at": _DT,
        }
    ),
    "CabinetPaper": _object(
        {
            "id": _ID,
            "title": {"type": "string"},
            "version": {"type": "integer", "minimum": 1},
            "sha256": _HEX,
            "size": {"type": "integer"},
            "name": {"type": "string"},
            "content_type": {"type": "string"},
            "confidential": {"type": "boolean"},
            "audience": {"type": ["array", "null"], "items": _ID},
            "state": {"type": "string", "enum": ["available", "taken_back"]},
        }
    ),
    "CabinetItem": _object(
        {
            "id": _ID,
            "title": {"type": "string"},
            "presenter": _TEXT_OR_NULL,
            "papers": {"type": "array", "items": _ref("CabinetPaper")},
        },
        {"position": {"type": "integer"}},
    ),
    "CabinetMeeting": _object(
        {
            "id": _ID,
            "title": {"type": "string"},
            "kind": {"type": "string"},
            "starts_at": _DT,
            "place": {"type": "string"},
            "state": {"type": "string", "enum": ["draft", "sent", "closed"]},
            "rules_version": {"type": "integer"},
            "packet_version": {"type": "integer"},
            "urgent": {"type": "boolean"},
            "urgent_reason": _TEXT_OR_NULL,
            "invitees": {
                "type": "array",
                "items": _object(
                    {
                        "person_id": _ID,
                        "attendance": {
                            "type": ["string", "null"],
                            "enum": ["attending", "absent", None],
                        },
                        "stand_in": {"type": ["string", "null"], "format": "uuid"},
                    },
                    {"reason": _TEXT_OR_NULL},
                ),
            },
            "quorum": _object(
                {
                    "required": {"type": "integer"},
                    "confirmed": {"type": "integer"},
                    "reached": {"type": "boolean"},
                }
            ),
            "items": {"type": "array", "items": _ref("CabinetItem")},
        }
    ),
    "CabinetChange": _object(
        {
            "paper_id": _ID,
            "change": {"type": "string", "enum": ["added", "replaced", "removed"]},
            "version": {"type": "integer"},
        }
    ),
    "CabinetManifest": {
        "type": "object",
        "description": "The caller's sealed manifest of the latest packet, in the receipt format; "
        'payload.type is "axis.cabinet.packet". Check it offline with the axis\'s seal certificate.',
        "required": ["payload", "alg", "signature", "certificate"],
        "properties": {
            "payload": _object(
                {
                    "type": {"const": "axis.cabinet.packet"},
                    "meeting_id": _ID,
                    "packet_version": {"type": "integer"},
                    "for": _ID,
                    "sent_at": _DT,
                    "items": {"type": "array"},
                    "changes": {"type": "array"},
                }
            ),
            "alg": {"type": "string"},
            "signature": {"type": "string"},
            "certificate": {"type": "string"},
            "chain": {"type": "array", "items": {"type": "string"}},
        },
    },
    "CabinetNotification": _object(
        {
            "id": {"type": "integer"},
            "kind": {"type": "string"},
            "at": _DT,
            "meeting_id": {"type": ["string", "null"], "format": "uuid"},
            "consultation_id": {"type": ["string", "null"], "format": "uuid"},
            "title_vi": {"type": "string"},
            "title_en": {"type": "string"},
            "details": {"type": "object"},
        }
    ),
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _path(*names: str) -> list[dict[str, Any]]:
    return [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
    ]


def _op(
    summary: str,
    op_id: str,
    responses: dict[str, Any],
    errors: dict[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    return {
        "summary": summary,
        "operationId": op_id,
        "tags": ["eCabinet"],
        **extra,
        "responses": {**responses, **errors},
    }


def paths() -> dict[str, Any]:
    """Every eCabinet path."""
    errs = _errors

    meeting = _ref("CabinetMeeting")
    m_path = _path("id")
    people_list = _object({"people": {"type": "array", "items": _ref("CabinetPerson")}})
    rules_history = _object(
        {
            "current": _ref("CabinetRulesVersion"),
            "versions": {"type": "array", "items": _ref("CabinetRulesVersion")},
        }
    )
    sent = _object(
        {
            "packet_version": {"type": "integer"},
            "changes": {"type": "array", "items": _ref("CabinetChange")},
            "notified": {"type": "array", "items": _ID},
        }
    )
    reads = _object(
        {
            "papers": {
                "type": "array",
                "items": _object(
                    {
                        "paper_id": _ID,
                        "version": {"type": "integer"},
                        "opened": {
                            "type": "array",
                            "items": _object({"person_id": _ID, "at": _DT}),
                        },
                        "not_opened": {"type": "array", "items": _ID},
                    }
                ),
            }
        }
    )
    return {
        "/v1/cabinet/sessions": {
            "post": _op(
                "Sign in as a cabinet person (member, deputy or secretariat)",
                "cabinetSignIn",
                {
                    "201": _json(
                        _object(
                            {
                                "token": {"type": "string"},
                                "expires_at": _DT,
                                "person": _ref("CabinetPerson"),
                            }
                        ),
                        "A session: send the token as 'Authorization: Bearer <token>'",
                    )
                },
                errs(
                    "cabinet_not_json", "cabinet_login_refused", "cabinet_locked_out", public=True
                ),
                security=[],
                requestBody=_body(
                    _object({"login": {"type": "string"}, "password": {"type": "string"}})
                ),
            )
        },
        "/v1/cabinet/people": {
            "get": _op(
                "Every cabinet person",
                "cabinetPeople",
                {"200": _json(people_list, "The people")},
                errs(),
            )
        },
        "/v1/cabinet/rules": {
            "get": _op(
                "The meeting rules in force and every earlier version",
                "cabinetRules",
                {"200": _json(rules_history, "The rules")},
                errs(),
            ),
            "post": _op(
                "A new version of the rules (secretariat): only the keys to change",
                "cabinetChangeRules",
                {"201": _json(_ref("CabinetRulesVersion"), "The new full version")},
                errs("cabinet_not_json", "cabinet_bad_rule", "cabinet_secretariat_only"),
                requestBody=_body(
                    _object({"rules": {"type": "object"}}, {"note": {"type": ["string", "null"]}})
                ),
            ),
        },
        "/v1/cabinet/files": {
            "post": _op(
                "Upload a file for papers (secretariat); the body is the bytes, streamed to the blob store",
                "cabinetUpload",
                {
                    "200": _json(
                        _object({"sha256": _HEX, "size": {"type": "integer"}}),
                        "Already uploaded: the same file",
                    ),
                    "201": _json(_object({"sha256": _HEX, "size": {"type": "integer"}}), "Stored"),
                },
                errs("cabinet_empty_file", "cabinet_secretariat_only", "cabinet_too_large"),
                requestBody={
                    "required": True,
                    "content": {
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        }
                    },
                },
            )
        },
        "/v1/cabinet/notifications": {
            "get": _op(
                "The caller's notifications after an id, oldest first (long-poll with wait)",
                "cabinetNotifications",
                {
                    "200": _json(
                        _object({"items": {"type": "array", "items": _ref("CabinetNotification")}}),
                        "Notifications",
                    )
                },
                errs("cabinet_bad_number"),
                parameters=[
                    {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                    {
                        "name": "wait",
                        "in": "query",
                        "schema": {"type": "number", "minimum": 0, "maximum": 60},
                        "description": "Seconds to wait when nothing is there (as /v1/inbox)",
                    },
                ],
            )
        },
        "/v1/meetings": {
            "get": _op(
                "Meetings the caller may see (the secretariat: all; members: sent ones they are invited to)",
                "listMeetings",
                {
                    "200": _json(
                        _object({"meetings": {"type": "array", "items": meeting}}), "Meetings"
                    )
                },
                errs(),
            ),
            "post": _op(
                "Create a meeting (secretariat); it follows the rules version in force",
                "createMeeting",
                {"201": _json(meeting, "The meeting, a draft")},
                errs("cabinet_not_json", "cabinet_bad_field", "cabinet_secretariat_only"),
                requestBody=_body(
                    _object(
                        {
                            "title": {"type": "string"},
                            "kind": {"type": "string"},
                            "starts_at": _DT,
                            "place": {"type": "string"},
                            "invitees": {"type": "array", "items": _ID},
                        }
                    )
                ),
            ),
        },
        "/v1/meetings/{id}": {
            "get": _op(
                "One meeting as the caller sees it",
                "getMeeting",
                {"200": _json(meeting, "The meeting")},
                errs("cabinet_meeting_not_found"),
                parameters=m_path,
            )
        },
        "/v1/meetings/{id}/items": {
            "post": _op(
                "Add an agenda item (secretariat)",
                "addMeetingItem",
                {"201": _json(_ref("CabinetItem"), "The item")},
                errs(
                    "cabinet_not_json",
                    "cabinet_bad_field",
                    "cabinet_secretariat_only",
                    "cabinet_meeting_not_found",
                    "cabinet_no_change",
                ),
                parameters=m_path,
                requestBody=_body(
                    _object({"title": {"type": "string"}}, {"presenter": _TEXT_OR_NULL})
                ),
            )
        },
        "/v1/meetings/{id}/items/{item}/papers": {
            "post": _op(
                "Add a paper to an item (secretariat): an uploaded file or a letter's attachment",
                "addMeetingPaper",
                {"201": _json(_ref("CabinetPaper"), "The paper, version 1")},
                errs(
                    "cabinet_not_json",
                    "cabinet_bad_field",
                    "cabinet_secretariat_only",
                    "cabinet_meeting_not_found",
                    "cabinet_no_change",
                    "cabinet_unknown_file",
                ),
                parameters=_path("id", "item"),
                requestBody=_body(
                    _object(
                        {"title": {"type": "string"}},
                        {
                            "file_sha256": _HEX,
                            "from_letter": _object(
                                {"document_id": _ID, "attachment": {"type": ["string", "integer"]}}
                            ),
                            "name": {"type": "string"},
                            "content_type": {"type": "string"},
                            "confidential": {"type": "boolean"},
                            "audience": {"type": ["array", "null"], "items": _ID},
                        },
                    )
                ),
            )
        },
        "/v1/meetings/{id}/items/{item}/position": {
            "post": _op(
                "A voting member's position on an item before the meeting (agree, object, comment)",
                "postPosition",
                {
                    "201": _json(
                        _object(
                            {
                                "item_id": _ID,
                                "position": {
                                    "type": "string",
                                    "enum": ["agree", "object", "comment"],
                                },
                                "comment": _TEXT_OR_NULL,
                                "at": _DT,
                            }
                        ),
                        "Recorded (a later one replaces it until the meeting starts)",
                    )
                },
                errs(
                    "cabinet_not_json",
                    "cabinet_bad_field",
                    "cabinet_voters_only",
                    "cabinet_meeting_not_found",
                    "cabinet_meeting_started",
                ),
                parameters=_path("id", "item"),
                requestBody=_body(
                    _object(
                        {"position": {"type": "string", "enum": ["agree", "object", "comment"]}},
                        {"comment": _TEXT_OR_NULL},
                    )
                ),
            )
        },
        "/v1/meetings/{id}/positions": {
            "get": _op(
                "Positions: per item for the secretariat (who agreed, objected, has not answered; "
                "no_objection), the caller's own for a member",
                "getPositions",
                {
                    "200": _json(
                        _object({"items": {"type": "array", "items": {"type": "object"}}}),
                        "Positions",
                    )
                },
                errs("cabinet_meeting_not_found"),
                parameters=m_path,
            )
        },
        "/v1/meetings/{id}/papers/{paper}/versions": {
            "post": _op(
                "A new version of a paper (secretariat); older versions stay readable",
                "addPaperVersion",
                {"201": _json(_ref("CabinetPaper"), "The paper at its new version")},
                errs(
                    "cabinet_not_json",
                    "cabinet_bad_field",
                    "cabinet_secretariat_only",
                    "cabinet_paper_not_found",
                    "cabinet_no_change",
                    "cabinet_taken_back",
                    "cabinet_unknown_file",
                ),
                parameters=_path("id", "paper"),
                requestBody=_body(
                    _object(
                        {"file_sha256": _HEX, "name": {"type": "string"}},
                        {"note": _TEXT_OR_NULL, "content_type": {"type": "string"}},
                    )
                ),
            )
        },
        "/v1/meetings/{id}/packets": {
            "post": _op(
                "Send the packet (secretariat): each invitee gets a sealed manifest of what they may see",
                "sendPacket",
                {"201": _json(sent, "Sent")},
                errs(
                    "cabinet_not_json",
                    "cabinet_bad_field",
                    "cabinet_secretariat_only",
                    "cabinet_meeting_not_found",
                    "cabinet_notice_period",
                ),
                parameters=m_path,
                requestBody=_body(
                    {
                        "type": "object",
                        "properties": {
                            "urgent": {"type": "boolean"},
                            "reason": _TEXT_OR_NULL,
                        },
                    },
                    required=False,
                ),
            )
        },
        "/v1/meetings/{id}/packet": {
            "get": _op(
                "The caller's sealed manifest of the latest packet",
                "getPacket",
                {"200": _json(_ref("CabinetManifest"), "The sealed manifest")},
                errs("cabinet_meeting_not_found"),
                parameters=m_path,
            )
        },
        "/v1/meetings/{id}/packet.zip": {
            "get": _op(
                "The caller's packet as a ZIP, streamed: manifest.json (the sealed manifest), "
                "index.html and each paper at its path",
                "getPacketZip",
                {
                    "200": {
                        "description": "The ZIP (papers taken back are left out for members)",
                        "content": {
                            "application/zip": {"schema": {"type": "string", "format": "binary"}}
                        },
                    }
                },
                errs("cabinet_meeting_not_found"),
                parameters=m_path,
            )
        },
        "/v1/meetings/{id}/papers/{paper}": {
            "get": _op(
                "A paper's bytes (the first opening per person and version is recorded)",
                "getPaper",
                {
                    "200": {
                        "description": "The bytes",
                        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                    }
                },
                errs("cabinet_bad_number", "cabinet_paper_not_found", "cabinet_taken_back"),
                parameters=[
                    *_path("id", "paper"),
                    {"name": "version", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                ],
            )
        },
        "/v1/meetings/{id}/attendance": {
            "post": _op(
                "An invited member answers: attending or not, and who stands in (a deputy)",
                "postAttendance",
                {"200": _json(meeting, "The meeting")},
                errs(
                    "cabinet_not_json",
                    "cabinet_bad_field",
                    "cabinet_secretariat_only",
                    "cabinet_meeting_not_found",
                    "cabinet_no_change",
                ),
                parameters=m_path,
                requestBody=_body(
                    _object(
                        {"attending": {"type": "boolean"}},
                        {"reason": _TEXT_OR_NULL, "stand_in": {"type": ["string", "null"]}},
                    )
                ),
            )
        },
        "/v1/meetings/{id}/reads": {
            "get": _op(
                "Who opened which paper, and who has not (secretariat)",
                "getReads",
                {"200": _json(reads, "Reads per paper of the latest packet")},
                errs("cabinet_secretariat_only", "cabinet_meeting_not_found"),
                parameters=m_path,
            )
        },
        "/v1/meetings/{id}/take-back": {
            "post": _op(
                "Take papers back (secretariat): members' apps are told to delete them",
                "takeBack",
                {
                    "200": _json(
                        _object({"taken_back": {"type": "array", "items": _ID}}), "Taken back"
                    )
                },
                errs(
                    "cabinet_not_json",
                    "cabinet_bad_field",
                    "cabinet_secretariat_only",
                    "cabinet_meeting_not_found",
                ),
                parameters=m_path,
                requestBody=_body(_object({"papers": {"type": "array", "items": _ID}})),
            )
        },
        "/v1/meetings/{id}/close": {
            "post": _op(
                "Close the meeting (secretariat); confidential papers are taken back when the rules say so",
                "closeMeeting",
                {"200": _json(meeting, "The meeting, closed")},
                errs("cabinet_secretariat_only", "cabinet_meeting_not_found", "cabinet_no_change"),
                parameters=m_path,
            )
        },
    }


_CONSULTATION_ERRORS = (
    "cabinet_not_json",
    "cabinet_bad_field",
    "cabinet_secretariat_only",
    "consultation_not_asked",
    "consultation_signature_invalid",
    "consultation_not_found",
    "consultation_not_all_answered",
    "consultation_unknown_organ",
)

SCHEMAS.update(
    {
        "CabinetConsultation": {
            "type": "object",
            "description": "A written consultation as the caller sees it (docs/API.md); answered "
            "and not_answered are null for members.",
            "required": ["id", "title", "state", "deadline", "questions", "asked"],
            "properties": {
                "id": _ID,
                "title": {"type": "string"},
                "state": {"type": "string", "enum": ["draft", "open", "closed"]},
                "deadline": _DT,
                "rules_version": {"type": ["integer", "null"]},
                "questions": {"type": "array"},
                "asked": {"type": "array", "items": _ID},
                "form": {"type": ["object", "null"]},
                "form_sha256": {"type": ["string", "null"]},
                "answered": {"type": ["array", "null"], "items": _ID},
                "not_answered": {"type": ["array", "null"], "items": _ID},
                "my_ballot": {"type": ["object", "null"]},
            },
        },
        "CabinetBallotReceipt": _object(
            {
                "ballot_id": _ID,
                "member": _ID,
                "version": {"type": "integer", "minimum": 1},
                "ballot_sha256": _HEX,
                "receipt": {
                    "description": "The axis.cabinet.ballot_receipt payload with its leaf, index and "
                    "path up to the Merkle root its batch's seal signs (axis cabinet check-receipt)",
                    **_object(
                        {
                            "payload": {"type": "object"},
                            "leaf": _HEX,
                            "index": {"type": "integer", "minimum": 0},
                            "path": {"type": "array", "items": {"type": "object"}},
                            "batch": {"type": "object"},
                        }
                    ),
                },
            }
        ),
        "CabinetSignedBallot": {
            "type": "object",
            "description": 'payload.type "axis.cabinet.ballot"; signature: base64 over the '
            "payload's canonical JSON with the member's own key (RS256, ES256 or ES384)",
            "required": ["payload"],
            "properties": {
                "payload": _object(
                    {
                        "type": {"const": "axis.cabinet.ballot"},
                        "consultation_id": _ID,
                        "form_sha256": _HEX,
                        "member": _ID,
                        "answers": {
                            "type": "array",
                            "items": _object(
                                {
                                    "question": {"type": "integer", "minimum": 1},
                                    "choice": {
                                        "type": "string",
                                        "enum": ["agree", "disagree", "other"],
                                    },
                                },
                                {"comment": _TEXT_OR_NULL},
                            ),
                        },
                        "signed_at": _DT,
                    }
                ),
                "alg": {"type": "string", "enum": ["RS256", "ES256", "ES384"]},
                "signature": {"type": "string"},
                "certificate": {"type": "string"},
                "chain": {"type": "array", "items": {"type": "string"}},
            },
        },
    }
)


def consultation_paths() -> dict[str, Any]:
    c = _ref("CabinetConsultation")
    errs = _errors(*_CONSULTATION_ERRORS)
    one = _path("id")
    sealed = {
        "type": "object",
        "description": "Sealed by the axis: payload, alg, signature, certificate, chain",
    }
    return {
        "/v1/consultations": {
            "get": _op(
                "Consultations the caller may see (secretariat: all; members: those they are asked in)",
                "listConsultations",
                {"200": _json(_object({"consultations": {"type": "array", "items": c}}), "Consultations")},
                errs,
            ),
            "post": _op(
                "Draft a written consultation (secretariat)",
                "createConsultation",
                {"201": _json(c, "The consultation, a draft")},
                errs,
                requestBody=_body(
                    _object(
                        {
                            "title": {"type": "string"},
                            "summary": {"type": "string"},
                            "requested_by": {"type": "string"},
                            "questions": {"type": "array", "items": {"type": "string"}},
                            "deadline": _DT,
                        },
                        {
                            "request_letter": {"type": ["string", "null"], "format": "uuid"},
                            "members": {"type": ["array", "null"], "items": _ID},
                            "papers": {"type": "array", "items": {"type": "object"}},
                        },
                    )
                ),
            ),
        },
        "/v1/consultations/{id}": {
            "get": _op("One consultation as the caller sees it", "getConsultation",
                       {"200": _json(c, "The consultation")}, errs, parameters=one),
        },
        "/v1/consultations/{id}/open": {
            "post": _op("Open it: the asked, the rules version and the sealed form are frozen (secretariat)",
                        "openConsultation", {"200": _json(c, "The consultation, open")}, errs,
                        parameters=one),
        },
        "/v1/consultations/{id}/deadline": {
            "post": _op("Move the deadline later (secretariat)", "consultationDeadline",
                        {"200": _json(c, "The consultation")}, errs, parameters=one,
                        requestBody=_body(_object({"deadline": _DT}))),
        },
        "/v1/consultations/{id}/papers/{paper}": {
            "get": _op("A paper's bytes", "getConsultationPaper",
                       {"200": {"description": "The bytes",
                                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}},
                       errs, parameters=_path("id", "paper")),
        },
        "/v1/consultations/{id}/ballots": {
            "post": _op("Answer with a ballot signed by the member's own certificate (an asked voting member)",
                        "castBallot",
                        {"200": _json(_ref("CabinetBallotReceipt"), "The same ballot again: the first answer"),
                         "201": _json(_ref("CabinetBallotReceipt"), "Received: its version and the axis's receipt")},
                        errs, parameters=one, requestBody=_body(_ref("CabinetSignedBallot"))),
            "get": _op("Ballots (secretariat: every member's; a member: their own)", "listBallots",
                       {"200": _json(_object({"ballots": {"type": "array"}}), "Every version")},
                       errs, parameters=one),
        },
        "/v1/consultations/{id}/close": {
            "post": _op("Close early once every asked member answered (secretariat)", "closeConsultation",
                        {"200": _json(c, "The consultation, closed")}, errs, parameters=one),
        },
        "/v1/consultations/{id}/tally": {
            "get": _op("Open: the count so far (secretariat); closed: the sealed tally", "getTally",
                       {"200": _json({"type": "object"}, "The tally")}, errs, parameters=one),
        },
        "/v1/consultations/{id}/report": {
            "get": _op("The printable report of a closed consultation", "getConsultationReport",
                       {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}},
                       errs, parameters=one),
        },
        "/v1/consultations/{id}/result": {
            "post": _op("Send the result letter to the requesting ministry through the axis (secretariat)",
                        "sendConsultationResult",
                        {"202": _json({"type": "object"}, "The axis's acceptance of the letter (again: the same)")},
                        errs, parameters=one,
                        requestBody=_body(_object({}, {"to": {"type": ["array", "null"], "items": {"type": "string"}}}), required=False)),
        },
        "/v1/consultations/{id}/proof": {
            "get": _op("The consultation's audit entries chained to a sealed checkpoint", "getConsultationProof",
                       {"200": _json(sealed | {"description": "An audit proof (axis audit check-proof)"}, "The proof")},
                       errs, parameters=one),
        },
    }  # fmt: skip


def contribution() -> dict[str, Any]:
    """What the plug-in adds to /v1/openapi.json: paths, schemas and error examples."""
    return {
        "paths": {**paths(), **consultation_paths()},
        "schemas": SCHEMAS,
        "error_examples": ERROR_EXAMPLES,
    }
