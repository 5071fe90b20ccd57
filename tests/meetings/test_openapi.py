"""/v1/openapi.json describes the eCabinet calls truthfully: every documented error example is what
a running hub answers, and schemathesis's generated requests, as the secretariat and as a member
with real ids in the paths, get documented answers and never a server error."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import schemathesis
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from axis.app import create_app
from meetings.openapi import ERROR_EXAMPLES
from tests.meetings.conftest import GOV_OFFICE, PASSWORD, Cabinet

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
EXAMPLES = int(os.environ.get("AXIS_OPENAPI_EXAMPLES", "12"))


async def _world(cabinet: Cabinet) -> dict[str, str]:
    """A sent meeting with an item and two papers for everyone."""
    await cabinet.person("thuky", "secretariat")
    await cabinet.person("thutuong", "member", chair=True, title="Thủ tướng")
    await cabinet.person("botaichinh", "member", title="Bộ trưởng Bộ Tài chính")
    starts = (datetime.now(UTC) + timedelta(days=10)).isoformat()
    meeting = await cabinet.call(
        "POST", "/v1/meetings", "thuky", 201,
        json={"title": "Phiên họp", "kind": "regular", "starts_at": starts, "place": "Hà Nội",
              "invitees": [cabinet.ids["thutuong"], cabinet.ids["botaichinh"]]},
    )  # fmt: skip
    mid = meeting["id"]
    item = await cabinet.call(
        "POST", f"/v1/meetings/{mid}/items", "thuky", 201, json={"title": "Nghị định"}
    )
    stored = await cabinet.call("POST", "/v1/cabinet/files", "thuky", 201, data=b"%PDF-1.7 a")
    paper = await cabinet.call(
        "POST", f"/v1/meetings/{mid}/items/{item['id']}/papers", "thuky", 201,
        json={"title": "Tờ trình", "file_sha256": stored["sha256"], "name": "a.pdf"},
    )  # fmt: skip
    gone = await cabinet.call(
        "POST", f"/v1/meetings/{mid}/items/{item['id']}/papers", "thuky", 201,
        json={"title": "Phụ lục", "file_sha256": stored["sha256"], "name": "b.pdf"},
    )  # fmt: skip
    await cabinet.call("POST", f"/v1/meetings/{mid}/packets", "thuky", 201, json={})
    return {"id": mid, "item": item["id"], "paper": paper["id"], "gone": gone["id"]}


async def _schema(client: TestClient) -> tuple[str, Any]:  # type: ignore[type-arg]
    base_url = str(client.make_url("")).rstrip("/")
    schema = await asyncio.to_thread(schemathesis.openapi.from_url, base_url + "/v1/openapi.json")
    return base_url, schema


async def test_every_ecabinet_error_example_is_what_the_hub_really_answers(
    cabinet: Cabinet,
) -> None:
    world = await _world(cabinet)
    mid = world["id"]
    base_url, schema = await _schema(cabinet.client)
    sec, member = cabinet.auth("thuky"), cabinet.auth("botaichinh")
    late = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    soon = await cabinet.call(
        "POST", "/v1/meetings", "thuky", 201,
        json={"title": "Họp gấp", "kind": "special", "starts_at": late, "place": "Hà Nội",
              "invitees": [cabinet.ids["thutuong"]]},
    )  # fmt: skip
    await cabinet.call(
        "POST", f"/v1/meetings/{soon['id']}/items", "thuky", 201, json={"title": "Việc gấp"}
    )
    await cabinet.person("khoa", "secretariat")
    for _ in range(5):
        await cabinet.client.post(
            "/v1/cabinet/sessions", json={"login": "khoa", "password": "sai-mat-khau-1"}
        )

    def call(
        method: str, path: str, headers: dict[str, str] | None, **parts: Any
    ) -> Callable[[], Awaitable[Any]]:
        def run() -> Any:
            case = schema[path][method].Case(**parts)
            return case.call_and_validate(
                base_url=base_url, headers=headers or {}, checks=CHECKS[1:], timeout=15
            )

        return lambda: asyncio.to_thread(run)

    def js(body: Any) -> dict[str, Any]:
        return {"body": body, "media_type": "application/json"}

    small = replace(cabinet.config, max_document_bytes=8192)
    small_client: TestClient = TestClient(TestServer(create_app(small)))  # type: ignore[type-arg]
    await small_client.start_server()
    dead = replace(cabinet.config, database_url="postgresql://postgres@127.0.0.1:9/nowhere")
    dead_client: TestClient = TestClient(TestServer(create_app(dead)))  # type: ignore[type-arg]
    await dead_client.start_server()
    try:
        small_url, small_schema = await _schema(small_client)
        dead_url, dead_schema = await _schema(dead_client)

        def too_large() -> Any:
            case = small_schema["/v1/cabinet/files"]["POST"].Case(
                body=os.urandom(9216), media_type="application/octet-stream"
            )
            return case.call_and_validate(base_url=small_url, headers=sec, checks=CHECKS[1:])

        def unavailable() -> Any:
            case = dead_schema["/v1/cabinet/people"]["GET"].Case()
            return case.call_and_validate(base_url=dead_url, headers=sec, checks=CHECKS[1:])

        async def taken_back() -> Any:
            await cabinet.call(
                "POST", f"/v1/meetings/{mid}/take-back", "thuky", 200,
                json={"papers": [world["gone"]]},
            )  # fmt: skip
            return await call(
                "GET", "/v1/meetings/{id}/papers/{paper}", member,
                path_parameters={"id": mid, "paper": world["gone"]},
            )()  # fmt: skip

        past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        begun = await cabinet.call(
            "POST", "/v1/meetings", "thuky", 201,
            json={"title": "Đã họp", "kind": "special", "starts_at": past, "place": "Hà Nội",
                  "invitees": [cabinet.ids["botaichinh"]]},
        )  # fmt: skip
        begun_item = await cabinet.call(
            "POST", f"/v1/meetings/{begun['id']}/items", "thuky", 201, json={"title": "Việc"}
        )
        await cabinet.call(
            "POST", f"/v1/meetings/{begun['id']}/packets", "thuky", 201,
            json={"urgent": True, "reason": "Họp đột xuất"},
        )  # fmt: skip
        position = "/v1/meetings/{id}/items/{item}/position"
        asking = {"title": "Xin ý kiến", "summary": "Về dự thảo", "requested_by": GOV_OFFICE,
                  "questions": ["Đồng ý?"], "members": [cabinet.ids["thutuong"]],
                  "deadline": (datetime.now(UTC) + timedelta(days=2)).isoformat()}  # fmt: skip
        drafted = await cabinet.call("POST", "/v1/consultations", "thuky", 201, json=asking)
        consultation = await cabinet.call(
            "POST", f"/v1/consultations/{drafted['id']}/open", "thuky", 200
        )
        unsigned = {
            "payload": {"type": "axis.cabinet.ballot", "consultation_id": consultation["id"],
                        "form_sha256": consultation["form_sha256"], "member": cabinet.ids["thutuong"],
                        "answers": [{"question": 1, "choice": "agree"}],
                        "signed_at": datetime.now(UTC).isoformat()}
        }  # fmt: skip
        ballots = "/v1/consultations/{id}/ballots"
        c_id = {"id": consultation["id"]}

        provoke: dict[str, Callable[[], Awaitable[Any]]] = {
            "cabinet_missing_token": call("GET", "/v1/cabinet/people", None),
            "cabinet_invalid_token": call(
                "GET", "/v1/cabinet/people", {"Authorization": "Bearer axis_not-a-session"}
            ),
            "cabinet_login_refused": call(
                "POST",
                "/v1/cabinet/sessions",
                None,
                **js({"login": "thuky", "password": "sai-mat-khau-2"}),
            ),
            "cabinet_locked_out": call(
                "POST", "/v1/cabinet/sessions", None, **js({"login": "khoa", "password": PASSWORD})
            ),
            "cabinet_not_json": call("POST", "/v1/meetings", sec, **js([1, 2])),
            "cabinet_bad_field": call("POST", "/v1/meetings", sec, **js({"title": ""})),
            "cabinet_bad_rule": call(
                "POST", "/v1/cabinet/rules", sec, **js({"rules": {"quorum": 1}})
            ),
            "cabinet_bad_number": call(
                "GET", "/v1/cabinet/notifications", member, query={"after": "soon"}
            ),
            "cabinet_empty_file": call(
                "POST", "/v1/cabinet/files", sec, body=b"", media_type="application/octet-stream"
            ),
            "cabinet_secretariat_only": call(
                "POST", "/v1/meetings/{id}/close", member, path_parameters={"id": mid}
            ),
            "cabinet_voters_only": call(
                "POST",
                position,
                sec,
                path_parameters={"id": mid, "item": world["item"]},
                **js({"position": "agree"}),
            ),
            "cabinet_meeting_started": call(
                "POST",
                position,
                member,
                path_parameters={"id": begun["id"], "item": begun_item["id"]},
                **js({"position": "agree"}),
            ),
            "cabinet_meeting_not_found": call(
                "GET", "/v1/meetings/{id}", sec, path_parameters={"id": str(uuid.uuid4())}
            ),
            "cabinet_paper_not_found": call(
                "GET",
                "/v1/meetings/{id}/papers/{paper}",
                sec,
                path_parameters={"id": mid, "paper": str(uuid.uuid4())},
            ),
            "cabinet_notice_period": call(
                "POST",
                "/v1/meetings/{id}/packets",
                sec,
                path_parameters={"id": soon["id"]},
                **js({}),
            ),
            "cabinet_no_change": call(
                "POST", "/v1/meetings/{id}/packets", sec, path_parameters={"id": mid}, **js({})
            ),
            "cabinet_taken_back": lambda: taken_back(),
            "cabinet_too_large": lambda: asyncio.to_thread(too_large),
            "cabinet_unknown_file": call(
                "POST",
                "/v1/meetings/{id}/items/{item}/papers",
                sec,
                path_parameters={"id": mid, "item": world["item"]},
                **js({"title": "X", "file_sha256": "0" * 64, "name": "x.pdf"}),
            ),
            "cabinet_unavailable": lambda: asyncio.to_thread(unavailable),
            "consultation_not_found": call(
                "GET", "/v1/consultations/{id}", sec, path_parameters={"id": str(uuid.uuid4())}
            ),
            "consultation_not_asked": call(
                "POST",
                ballots,
                member,
                path_parameters=c_id,
                **js(
                    {
                        **unsigned,
                        "payload": {**unsigned["payload"], "member": cabinet.ids["botaichinh"]},
                    }
                ),
            ),
            "consultation_signature_invalid": call(
                "POST", ballots, cabinet.auth("thutuong"), path_parameters=c_id, **js(unsigned)
            ),
            "consultation_not_all_answered": call(
                "POST", "/v1/consultations/{id}/close", sec, path_parameters=c_id
            ),
            "consultation_unknown_organ": call(
                "POST", "/v1/consultations", sec, **js({**asking, "requested_by": "000.00.00.X99"})
            ),
        }
        assert set(provoke) == set(ERROR_EXAMPLES)
        problems = []
        for name, (status, _, example) in ERROR_EXAMPLES.items():
            try:
                response = await provoke[name]()
            except Exception as exc:
                problems.append(f"{name}: {exc}")
                continue
            got = response.json().get("error", {})
            if response.status_code != status:
                problems.append(f"{name}: status {response.status_code}, documented {status}")
            for part in ("code", "where"):
                if got.get(part) != example.get(part):
                    problems.append(
                        f"{name}: {part} {got.get(part)!r}, documented {example.get(part)!r}"
                    )
            if set(got) != set(example):
                problems.append(f"{name}: fields {sorted(got)}, documented {sorted(example)}")
        assert not problems, "\n".join(problems)
    finally:
        await small_client.close()
        await dead_client.close()


def _fuzz(base_url: str, schema: Any, headers: dict[str, str], ids: dict[str, str]) -> list[str]:
    failures: list[str] = []

    def real_ids(case: Any) -> None:
        for name in ("id", "item", "paper"):
            if name in (case.path_parameters or {}):
                case.path_parameters[name] = ids[name]
        # A long-poll would outlast the request's timeout: keep a valid wait short.
        wait = (case.query or {}).get("wait")
        if isinstance(wait, int | float) and not isinstance(wait, bool) and wait > 1:
            case.query["wait"] = 1

    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        for result in schema.include(path_regex="^/v1/(cabinet|meetings)").get_all_operations():
            if not isinstance(result, Ok):
                failures.append(f"an operation schemathesis cannot read: {result.err()}")
                continue
            operation = result.ok()

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Any) -> None:
                real_ids(case)
                case.call_and_validate(
                    base_url=base_url, headers=headers, checks=CHECKS, timeout=15
                )

            try:
                run()
            except Exception as exc:
                failures.append(f"{operation.label} ({mode.value}):\n{exc}")
    return failures


async def test_generated_requests_as_the_secretariat_and_a_member_never_get_a_server_error(
    cabinet: Cabinet,
) -> None:
    world = await _world(cabinet)
    base_url, schema = await _schema(cabinet.client)
    failures: list[str] = []
    for login in ("thuky", "botaichinh"):
        found = await asyncio.to_thread(_fuzz, base_url, schema, cabinet.auth(login), world)
        failures += [f"as {login}: {f}" for f in found]
    assert not failures, "\n\n".join(failures)
