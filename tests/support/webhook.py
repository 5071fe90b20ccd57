"""A push agency's webhook for tests: records what the axis POSTs, and can be taken down."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from axis.client import verify_push


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    genuine: bool


@dataclass
class Webhook:
    token: str = ""
    up: bool = True
    received: list[Received] = field(default_factory=list)
    refused: int = 0
    #: (status, Location) to answer every POST with a redirect instead.
    redirect: tuple[int, str] | None = None
    #: POSTs that reached /elsewhere, where the redirects point: a push must never get there.
    followed: int = 0
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/axis"

    async def start(self) -> None:
        app = web.Application(client_max_size=1 << 30)
        app.router.add_post("/axis", self._handle)
        app.router.add_route("*", "/elsewhere", self._elsewhere)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def elsewhere(self) -> str:
        return f"http://127.0.0.1:{self.port}/elsewhere"

    async def _elsewhere(self, request: web.Request) -> web.Response:
        await request.read()
        self.followed += 1
        return web.Response(status=204)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.redirect is not None:
            self.refused += 1
            status, location = self.redirect
            return web.Response(status=status, headers={"Location": location})
        if not self.up:
            self.refused += 1
            return web.Response(status=503, text="maintenance")
        headers = dict(request.headers)
        self.received.append(Received(headers, body, verify_push(self.token, headers, body)))
        return web.Response(status=204)
