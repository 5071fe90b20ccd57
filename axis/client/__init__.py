"""The agency client SDK: what a document-management system calls to use the axis over /v1."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import orjson

#: Delivery ids per POST /v1/deliveries/ack (the axis takes at most 500).
ACK_BATCH = 500


class AxisClientError(Exception):
    """The axis refused a call; carries its status and error body."""

    def __init__(
        self, status: int, code: str, message: str, where: str | None = None, details: Any = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}" + (f" (at {where})" if where else ""))
        self.status = status
        self.code = code
        self.message = message
        self.where = where
        self.details = details


class LocalWriteError(Exception):
    """Writing a fetched file on this machine failed (read-only folder, full disk, a path that is
    a file): an OSError like a network failure, so kept apart to be reported as what it is."""

    def __init__(self, path: Path, cause: OSError) -> None:
        reason = cause.strerror or str(cause)
        super().__init__(f"cannot write {path}: {reason}")
        self.path = path
        self.reason = reason


def verify_push(token: str, headers: Mapping[str, str], body: bytes) -> bool:
    """For a push agency's webhook: is this POST really from the axis, and is the body whole?"""
    content_sha = hashlib.sha256(body).hexdigest()
    if not hmac.compare_digest(content_sha, headers.get("X-Axis-Content-SHA256", "")):
        return False
    key = hashlib.sha256(token.encode("utf-8")).hexdigest().encode("ascii")
    message = f"{headers.get('X-Axis-Delivery-Id', '')}\n{content_sha}".encode("ascii")
    expected = "sha256=" + hmac.new(key, message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers.get("X-Axis-Signature", ""))


class AxisClient:
    """Async client of one agency. Use as `async with AxisClient(url, token) as axis: ...`."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 120.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._own_session = session is None
        self._session = session or aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=timeout)
        )

    async def __aenter__(self) -> AxisClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session:
            await self._session.close()

    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self._session.request(
            method, self.base_url + path, headers=self._headers, **kwargs
        ) as resp:
            return await _answer(resp)

    async def send(self, package: bytes | Path) -> dict[str, Any]:
        """Send a signed edXML package; returns document id, delivery ids and the sealed receipt."""
        data = await asyncio.to_thread(package.read_bytes) if isinstance(package, Path) else package
        headers = {**self._headers, "Content-Type": "application/xml"}
        async with self._session.post(
            self.base_url + "/v1/documents", data=data, headers=headers
        ) as resp:
            return await _answer(resp)  # type: ignore[no-any-return]

    async def inbox(
        self, *, wait: float = 0, limit: int = 100, inline: bool = False
    ) -> list[dict[str, Any]]:
        """Deliveries waiting for this agency; with `wait`, long-polls until one arrives. With
        `inline`, small packages come in the answer: `package(item)` gives their bytes."""
        params = {"wait": str(wait), "limit": str(limit)}
        if inline:
            params["inline"] = "1"
        body = await self._json("GET", "/v1/inbox", params=params)
        return body["items"]  # type: ignore[no-any-return]

    async def package(self, item: Mapping[str, Any]) -> bytes:
        """The package of an inbox item: from the answer when it came inline, else fetched."""
        inline = item.get("package_base64")
        if isinstance(inline, str):
            return base64.b64decode(inline, validate=True)
        return await self.fetch(str(item["document_id"]))

    async def follow(
        self, *, wait: float = 30, limit: int = 100, inline: bool = False
    ) -> AsyncIterator[dict[str, Any]]:
        """Every new delivery, forever; the caller acknowledges what it has taken."""
        seen: set[str] = set()
        while True:
            items = await self.inbox(wait=wait, limit=limit, inline=inline)
            for item in items:
                if item["delivery_id"] not in seen:
                    seen.add(item["delivery_id"])
                    yield item
            if not items:
                seen.clear()
            elif all(i["delivery_id"] in seen for i in items):
                await asyncio.sleep(0.5)  # everything shown is still unacknowledged: do not spin

    async def fetch(self, document_id: str) -> bytes:
        """The original signed edXML bytes."""
        async with self._session.get(
            f"{self.base_url}/v1/documents/{document_id}", headers=self._headers
        ) as resp:
            if resp.status != 200:
                await _answer(resp)
            return await resp.read()

    async def stream(self, document_id: str) -> AsyncIterator[bytes]:
        """The original signed edXML bytes, chunk by chunk, for a caller that writes them itself."""
        async with self._session.get(
            f"{self.base_url}/v1/documents/{document_id}", headers=self._headers
        ) as resp:
            if resp.status != 200:
                await _answer(resp)
            async for chunk in resp.content.iter_chunked(1 << 16):
                yield chunk

    async def fetch_to(self, document_id: str, path: Path) -> int:
        """Stream the package into a file; returns its size. A failure to write the file is a
        `LocalWriteError`, never mistaken for a network error."""
        size = 0
        try:
            out = path.open("wb")
        except OSError as exc:
            raise LocalWriteError(path, exc) from exc
        with out:
            async for chunk in self.stream(document_id):
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise LocalWriteError(path, exc) from exc
                size += len(chunk)
        return size

    async def attachment(self, document_id: str, ref: str | int) -> bytes:
        url = f"{self.base_url}/v1/documents/{document_id}/attachments/{ref}"
        async with self._session.get(url, headers=self._headers) as resp:
            if resp.status != 200:
                await _answer(resp)
            return await resp.read()

    async def ack(self, delivery_id: str) -> dict[str, Any]:
        return await self._json("POST", f"/v1/deliveries/{delivery_id}/ack")  # type: ignore[no-any-return]

    async def ack_many(self, delivery_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Acknowledge many deliveries, ACK_BATCH per call: one result per id, in order, each
        {"id", "ok", "already_acknowledged", "delivery"} or {"id", "ok": false, "error"}."""
        results: list[dict[str, Any]] = []
        ids = list(delivery_ids)
        for start in range(0, len(ids), ACK_BATCH):
            body = await self._json(
                "POST", "/v1/deliveries/ack", json={"ids": ids[start : start + ACK_BATCH]}
            )
            results += body["results"]
        return results

    async def status_seal(self, document_id: str) -> dict[str, Any]:
        """The batch seal of a status 01 the axis wrote: check it offline with
        `axis audit check-proof seal.json --package status.xml`."""
        return await self._json("GET", f"/v1/documents/{document_id}/seal")  # type: ignore[no-any-return]

    async def post_status(self, document_id: str, package: bytes) -> dict[str, Any]:
        """Post a signed edXML Status package about a letter this agency received."""
        headers = {**self._headers, "Content-Type": "application/xml"}
        url = f"{self.base_url}/v1/documents/{document_id}/status"
        async with self._session.post(url, data=package, headers=headers) as resp:
            return await _answer(resp)  # type: ignore[no-any-return]

    async def deliveries(
        self, *, state: str | None = None, role: str = "sent", limit: int = 100
    ) -> list[dict[str, Any]]:
        params = {"role": role, "limit": str(limit)}
        if state:
            params["state"] = state
        return (await self._json("GET", "/v1/deliveries", params=params))["items"]  # type: ignore[no-any-return]

    async def agencies(self) -> list[dict[str, Any]]:
        return (await self._json("GET", "/v1/agencies"))["agencies"]  # type: ignore[no-any-return]

    async def receipt(self, document_id: str) -> dict[str, Any]:
        return await self._json("GET", f"/v1/documents/{document_id}/receipt")  # type: ignore[no-any-return]


async def _answer(resp: aiohttp.ClientResponse) -> Any:
    try:
        # orjson: an inbox answer with letters inline is megabytes of base64 text, which it reads
        # several times faster than the json module.
        body = orjson.loads(await resp.read())
    except ValueError:
        body = None
    if resp.status >= 400:
        err = (body or {}).get("error", {}) if isinstance(body, dict) else {}
        raise AxisClientError(
            resp.status,
            err.get("code", "http_error"),
            err.get("message", resp.reason or ""),
            err.get("where"),
            err.get("details"),
        )
    return body
