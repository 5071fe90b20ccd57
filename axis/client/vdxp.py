"""A client of VDXP, the national axis's SDK protocol: signs each call the way the Java SDK does
(XroadVnpt-* headers, the signed JSON copy of them, HMAC-SHA256 with the system's secret, a
timestamp fixed when the client is made) and works against our axis or any VDXP endpoint."""

from __future__ import annotations

import base64
import http.client
import json
import urllib.parse
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from axis.adapters.vdxp import protocol


class VdxpError(Exception):
    """The endpoint answered FAIL (or something that is not a VDXP answer)."""

    def __init__(self, error_code: str, desc: str, answer: Any = None) -> None:
        super().__init__(f"ErrorCode {error_code}: {desc}")
        self.error_code = error_code
        self.desc = desc
        self.answer = answer


class VdxpClient:
    """One system's calls to a VDXP endpoint such as http://HOST:PORT/vdxp."""

    def __init__(self, endpoint: str, systemid: str, secret: str, *, timeout: float = 60.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.systemid = systemid
        self.secret = secret
        self.timeout = timeout
        # The SDK fixes its timestamp when its service object is made; so does this client.
        self.timestamp = protocol.sdk_timestamp(datetime.now())

    def headers(
        self, params: Sequence[tuple[str, str]], content_type: str
    ) -> list[tuple[str, str]]:
        signed = [
            ("systemid", self.systemid),
            ("timestamp", self.timestamp),
            ("Content-Type", content_type),
            *params,
        ]
        return protocol.signed_headers(signed, self.secret)

    def raw(
        self,
        operation: str,
        params: Sequence[tuple[str, str]] = (),
        *,
        body: bytes = b"",
        content_type: str = "application/json",
        method: str = "POST",
    ) -> bytes:
        url = urllib.parse.urlsplit(f"{self.endpoint}/{operation}")
        conn_class = (
            http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        )
        conn = conn_class(url.netloc, timeout=self.timeout)
        try:
            conn.putrequest(method, url.path or "/", skip_accept_encoding=True)
            for name, value in self.headers(params, content_type):
                conn.putheader(name, value.encode("utf-8"))
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            response = conn.getresponse()
            return response.read()
        finally:
            conn.close()

    def call(
        self,
        operation: str,
        params: Sequence[tuple[str, str]] = (),
        *,
        body: bytes = b"",
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        raw = self.raw(operation, params, body=body, content_type=content_type)
        try:
            answer = json.loads(raw)
        except ValueError:
            raise VdxpError("-1", f"{operation}: the answer is not JSON: {raw[:200]!r}") from None
        if not isinstance(answer, dict):
            raise VdxpError("-1", f"{operation}: the answer is not a JSON object", answer)
        if answer.get("status") != "OK" or str(answer.get("ErrorCode")) != "0":
            raise VdxpError(
                str(answer.get("ErrorCode")), str(answer.get("ErrorDesc") or "FAIL"), answer
            )
        return answer

    # ---- the operations ----

    def send_edoc(
        self,
        package: bytes,
        *,
        from_: str | None = None,
        messagetype: str = "edoc",
        to: Sequence[str] | None = None,
    ) -> str:
        """Send an edXML letter (or, with messagetype='status', a Status package); its DocId."""
        params = [
            ("from", from_ or self.systemid),
            ("servicetype", "eDoc"),
            ("messagetype", messagetype),
        ]
        if to:
            params.append(("to", json.dumps(list(to), separators=(",", ":"))))
        params.append(("hash-file", protocol.hash_file(package)))
        answer = self.call(
            "sendEdoc",
            params,
            body=package + b"\r\n",
            content_type="application/octet-stream",
        )
        return str(answer["DocId"])

    def received(self, messagetype: str = "edoc") -> list[dict[str, Any]]:
        answer = self.call(
            "getReceivedEdocList", [("servicetype", "eDoc"), ("messagetype", messagetype)]
        )
        return list(answer.get("data") or [])

    def count(self, messagetype: str = "edoc") -> int:
        operation = "countReceiveStatus" if messagetype == "status" else "countReceiveEdoc"
        answer = self.call(
            operation, [("servicetype", "eDoc"), ("messagetype", messagetype)], body=b"{}"
        )
        return int(answer["count"])

    def get_edoc(self, doc_id: str) -> bytes:
        answer = self.call("getEdoc", [("docId", doc_id), ("filePath", "")], body=b"{}")
        return base64.b64decode(answer["data"])

    def download_edoc(self, doc_id: str) -> bytes:
        return self.raw("downloadEdoc", [("docId", doc_id), ("filePath", "")], method="GET")

    def update_status(self, doc_id: str, status: str = "done", description: str = "") -> None:
        params = [("status", status), ("docid", doc_id)]
        if description:
            params.append(("description", description))
        self.call("updateStatus", params, body=b"{}")

    def sent(self, doc_id: str) -> list[dict[str, Any]]:
        answer = self.call(
            "getSentEdocList",
            [("servicetype", "eDoc"), ("messagetype", "edoc"), ("docId", doc_id)],
        )
        return list(answer.get("data") or [])

    def agencies(self, which: str = "getAgenciesList") -> list[dict[str, Any]]:
        return list(self.call(which).get("data") or [])

    def register_agency(self, unit: dict[str, str]) -> None:
        self.call(
            "registerAgency",
            body=json.dumps(unit, ensure_ascii=False).encode("utf-8"),
        )

    def delete_agency(self, code: str) -> None:
        self.call("deleteAgency", [("AgencyCode", code)], body=b"{}")
