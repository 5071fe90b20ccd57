"""The webhook push: one POST of a delivery's bytes with its signature, never following a redirect,
and never to a loopback or link-local address unless the agency's operator allowed it."""

from __future__ import annotations

import hashlib
import hmac
import socket
import urllib.parse
from collections.abc import AsyncIterator, Mapping

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from axis import metrics
from axis.core import webhooks
from storage.blobs import BlobError

USER_AGENT = "axis-dispatcher/1"
_LOCATION_SHOWN = 200


def push_signature(token_hash: str, delivery_id: str, content_sha256: str) -> str:
    """What a push agency checks: HMAC-SHA256 keyed with SHA-256(token) (hex) over id and body hash."""
    message = f"{delivery_id}\n{content_sha256}".encode("ascii")
    return "sha256=" + hmac.new(token_hash.encode("ascii"), message, hashlib.sha256).hexdigest()


def push_headers(token_hash: str, row: Mapping[str, object]) -> dict[str, str]:
    """The headers of a push: ids, kind, sender, body hash and the signature over them."""
    delivery_id = str(row["id"])
    content_sha256 = str(row["content_sha256"])
    headers = {
        "Content-Type": "application/xml",
        "X-Axis-Delivery-Id": delivery_id,
        "X-Axis-Document-Id": str(row["document_id"]),
        "X-Axis-Kind": str(row["kind"]),
        "X-Axis-Sender": str(row["sender"]),
        "X-Axis-Content-SHA256": content_sha256,
        "X-Axis-Signature": push_signature(token_hash, delivery_id, content_sha256),
    }
    if row["status_code"]:
        headers["X-Axis-Status-Code"] = str(row["status_code"])
    return headers


class _PublicOnlyResolver(AbstractResolver):
    """Resolves as usual, then drops loopback, link-local and unspecified addresses."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        kept, refusal = [], None
        for each in found:
            ip = webhooks.literal_ip(each["host"])
            why = webhooks.refuse_connect(host, ip) if ip is not None else None
            if why is None:
                kept.append(each)
            else:
                refusal = refusal or why
        if not kept and refusal is not None:
            raise OSError(str(refusal))
        return kept

    async def close(self) -> None:
        await self._inner.close()


class Pusher:
    """POSTs deliveries to webhooks; open with start(), release with close()."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._guarded: aiohttp.ClientSession | None = None
        self._open: aiohttp.ClientSession | None = None

    def start(self) -> None:
        def session(resolver: AbstractResolver | None) -> aiohttp.ClientSession:
            return aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(resolver=resolver),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"User-Agent": USER_AGENT},
            )

        self._guarded = session(_PublicOnlyResolver())
        self._open = session(None)

    async def close(self) -> None:
        for session in (self._guarded, self._open):
            if session is not None:
                await session.close()
        self._guarded = self._open = None

    async def post(
        self,
        url: str,
        body: bytes | AsyncIterator[bytes],
        headers: Mapping[str, str],
        *,
        allow_private: bool,
    ) -> str | None:
        """One attempt: None when the webhook answered 2xx, otherwise why the attempt failed."""
        assert self._guarded is not None and self._open is not None, "Pusher.start() first"
        try:
            # Checked again at each push: the URL in the registry may predate today's rules.
            webhooks.check(url, allow_private=allow_private)
        except webhooks.WebhookRefused as exc:
            metrics.PUSH_ATTEMPTS.labels("refused").inc()
            return str(exc)
        session = self._open if allow_private else self._guarded
        try:
            async with session.post(
                url, data=body, headers=dict(headers), allow_redirects=False
            ) as resp:
                if 200 <= resp.status < 300:
                    metrics.PUSH_ATTEMPTS.labels("ok").inc()
                    return None
                metrics.PUSH_ATTEMPTS.labels("refused").inc()
                if 300 <= resp.status < 400:
                    return _redirect_refused(url, resp)
                return f"webhook answered HTTP {resp.status}"
        except (TimeoutError, aiohttp.ClientError, OSError, BlobError) as exc:
            metrics.PUSH_ATTEMPTS.labels("error").inc()
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _redirect_refused(url: str, resp: aiohttp.ClientResponse) -> str:
    location = resp.headers.get("Location")
    if location is None:
        return f"webhook answered HTTP {resp.status} with no Location; redirects are not followed"
    target = urllib.parse.urljoin(url, location)
    if len(target) > _LOCATION_SHOWN:
        target = target[:_LOCATION_SHOWN] + "…"
    return f"webhook answered HTTP {resp.status}: redirect to {target} refused"
