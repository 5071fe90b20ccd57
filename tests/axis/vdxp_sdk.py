"""A test double of the Java SDK's wire behaviour, written from docs/VDXP.md: one header map
per service object, a timestamp fixed at creation, parameters that leak into later calls, and the
signed JSON of the XroadVnpt-* headers. Not a client to copy: axis.client.vdxp is that."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from aiohttp.test_utils import TestClient
from multidict import CIMultiDict


def sdk_timestamp(moment: datetime) -> str:
    return moment.strftime("%d%m%YT%H%M%S") + f"+{moment.microsecond // 1000:04d}"


class Sdk:
    def __init__(self, client: TestClient, systemid: str, secret: str) -> None:  # type: ignore[type-arg]
        self.client = client
        self.secret = secret
        self.map: dict[str, str] = {
            "timestamp": sdk_timestamp(datetime.now()),
            "systemid": systemid,
        }
        self.last_headers: list[tuple[str, str]] = []

    def headers(self, *, one_per_name: bool = False) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        signed: dict[str, str] = {}
        for name, value in self.map.items():
            if name == "Content-Type":
                out.append((name, value))
            signed["XroadVnpt-" + name] = value
            out.append(("XroadVnpt-" + name, value))
        text = json.dumps(signed, ensure_ascii=False, separators=(",", ":"))
        digest = hmac.new(self.secret.encode(), text.encode(), hashlib.sha256).hexdigest()
        out += [
            ("XroadVnpt-sign-header-key", ";".join(self.map)),
            ("XroadVnpt-sign-header", text),
            ("XroadVnpt-hash-header", digest),
            ("User-Agent", "JAVASDKAgent/1.0.0 XRoad/VPCP"),
            ("XroadVnpt-version", "3.0.201608"),
        ]
        if one_per_name:
            # HttpURLConnection.setRequestProperty: a later name equal but for case replaces the value.
            kept: dict[str, tuple[str, str]] = {}
            for name, value in out:
                first = kept.get(name.lower(), (name, value))[0]
                kept[name.lower()] = (first, value)
            out = list(kept.values())
        return out

    async def call(
        self,
        operation: str,
        params: dict[str, str] | None = None,
        *,
        body: bytes = b"",
        content_type: str = "application/json",
        method: str = "POST",
        tamper: dict[str, str] | None = None,
        extra: list[tuple[str, str]] | None = None,
    ) -> Any:
        self.map["Content-Type"] = content_type
        self.map.update(params or {})
        headers = self.headers(one_per_name=operation == "sendEdoc")
        for name, value in (tamper or {}).items():
            headers = [(n, value if n == name else v) for n, v in headers]
        headers += extra or []  # added after signing: headers a hostile caller slips in
        self.last_headers = headers
        resp = await self.client.request(
            method, f"/vdxp/{operation}", data=body, headers=CIMultiDict(headers)
        )
        assert resp.status == 200, await resp.text()
        if operation == "downloadEdoc":
            return await resp.read()
        raw = await resp.read()
        assert raw.isascii(), raw
        return json.loads(raw)

    async def send(self, package: bytes, **params: str) -> Any:
        unpadded = "".join(f"{b:x}" for b in hashlib.sha256(package).digest())
        return await self.call(
            "sendEdoc",
            {"servicetype": "eDoc", "messagetype": "edoc", "hash-file": unpadded, **params},
            body=package + b"\r\n",
            content_type="application/octet-stream",
        )

    async def received(self, messagetype: str = "edoc") -> list[dict[str, Any]]:
        answer = await self.call(
            "getReceivedEdocList", {"servicetype": "eDoc", "messagetype": messagetype}
        )
        assert answer["status"] == "OK", answer
        return answer["data"]  # type: ignore[no-any-return]
