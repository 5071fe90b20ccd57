"""The application factory: wires PostgreSQL, RabbitMQ and the blob store into one aiohttp app."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from axis import metrics, plugins
from axis.adapters import bodies, pages
from axis.adapters.api import HUB, setup_routes
from axis.adapters.vdxp.api import setup_routes as vdxp_routes
from axis.config import Config
from axis.core import repo
from axis.core.audit import CheckpointPolicy
from axis.core.check_pool import CheckPool
from axis.core.errors import AxisError
from axis.hub import Hub, TokenCache, load_seal, load_trust
from axis.logs import request_id_var
from axis.workers.broker import Broker, BrokerUnavailable
from axis.workers.chainer import Chainer
from axis.workers.dispatch import Dispatcher
from axis.workers.notify import Listener, Notifier
from axis.workers.overdue import OverdueWatch
from axis.workers.relay import Relay
from axis.workers.sealer import Sealer
from axis.workers.topology import Names
from storage import migrations
from storage.blobs import BlobStore, open_blob_store
from storage.db import Database, DatabaseUnavailable

log = logging.getLogger("axis.http")

CONFIG = web.AppKey("config", Config)
DB = web.AppKey("db", Database)
BROKER = web.AppKey("broker", Broker)
BLOBS = web.AppKey("blobs", BlobStore)
#: This process's status sealer (tests pause it to see what a sender sees before a seal).
SEALER = web.AppKey("sealer", Sealer)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
READY_TIMEOUT = 3.0
SHUTDOWN_STEP_SECONDS = 15.0


def json_error(status: int, code: str, message: str, where: str | None = None) -> web.Response:
    body: dict[str, object] = {"code": code, "message": message}
    if where:
        body["where"] = where
    return web.json_response({"error": body}, status=status)


#: Methods counted by name; any other (a caller's invention) as "other", so that callers cannot
#: grow the metrics without end.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@functools.cache
def _counted(method: str, route: str, status: int) -> Any:
    """The request counter's child for these labels, found once (prometheus_client's `labels`
    takes a lock and builds its key at every call; the routes are the app's, so the set is small)."""
    return metrics.HTTP_REQUESTS.labels(method, route, str(status))


@functools.cache
def _timed(method: str, route: str) -> Any:
    return metrics.HTTP_LATENCY.labels(method, route)


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give every request an id (taken from X-Request-Id when sane), time it and count it."""
    incoming = request.headers.get("X-Request-Id", "")
    rid = (
        incoming
        if 0 < len(incoming) <= 64 and incoming.isascii() and incoming.isprintable()
        else uuid.uuid4().hex
    )
    token = request_id_var.set(rid)
    route = (
        request.match_info.route.resource.canonical
        if request.match_info.route.resource
        else "unmatched"
    )
    start = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers["X-Request-Id"] = rid
        return response
    except web.HTTPException as exc:
        status = exc.status
        exc.headers["X-Request-Id"] = rid
        raise
    finally:
        elapsed = time.perf_counter() - start
        method = request.method if request.method in _METHODS else "other"
        _counted(method, route, status).inc()
        _timed(method, route).observe(elapsed)
        log.info(
            "event=http method=%s path=%s status=%s ms=%.1f",
            request.method,
            request.path,
            status,
            elapsed * 1000,
        )
        request_id_var.reset(token)


@web.middleware
async def error_mapping(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place where the axis's errors become HTTP answers."""
    try:
        return await handler(request)
    except AxisError as exc:
        from axis.adapters.api import error_response

        return error_response(exc)
    except (DatabaseUnavailable, BrokerUnavailable) as exc:
        which = "postgresql" if isinstance(exc, DatabaseUnavailable) else "rabbitmq"
        return json_error(503, "dependency_unavailable", f"{which} is unavailable: {exc}", which)
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            code = exc.reason.lower().replace(" ", "_")
            return json_error(exc.status, code, exc.text or exc.reason)
        raise
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("event=unhandled_error path=%s", request.path)
        return json_error(
            500, "internal_error", "the axis failed to answer; the request id is in the logs"
        )


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def readyz(request: web.Request) -> web.Response:
    """200 only when every dependency answers and the schema is current; 503 naming the failing ones."""
    app = request.app

    async def check_db() -> dict[str, object]:
        async with app[DB].connection() as conn:
            await conn.fetchval("SELECT 1")
            pending = await migrations.pending(conn, plugins.migration_dirs())
        if pending:
            return {"ok": False, "error": "migrations pending: " + ", ".join(pending)}
        return {"ok": True}

    async def check_broker() -> dict[str, object]:
        await app[BROKER].ping(READY_TIMEOUT)
        return {"ok": True}

    async def check_blobs() -> dict[str, object]:
        await app[BLOBS].ping()
        return {"ok": True}

    async def guarded(check: Callable[[], Awaitable[dict[str, object]]]) -> dict[str, object]:
        try:
            return await asyncio.wait_for(check(), READY_TIMEOUT)
        except TimeoutError:
            return {"ok": False, "error": f"no answer within {READY_TIMEOUT:g} s"}
        except Exception as exc:
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}

    names = ("postgresql", "rabbitmq", "blob_store")
    results = await asyncio.gather(guarded(check_db), guarded(check_broker), guarded(check_blobs))
    checks = dict(zip(names, results, strict=True))
    for name, result in checks.items():
        metrics.DEPENDENCY_UP.labels(name).set(1 if result["ok"] else 0)
    failing = [name for name, result in checks.items() if not result["ok"]]
    body = {
        "status": "ready" if not failing else "unavailable",
        "failing": failing,
        "checks": checks,
    }
    return web.json_response(body, status=200 if not failing else 503)


async def metrics_view(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _resources(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    db = Database(config.database_url)
    broker = Broker(config.amqp_url)
    blobs = open_blob_store(config.blob_url)
    app[DB] = db
    app[BROKER] = broker
    app[BLOBS] = blobs
    # Neither waits: the service answers /healthz at once and becomes ready when both are reachable.
    await db.start()
    broker.start()
    hub = Hub(
        config=config,
        db=db,
        broker=broker,
        blobs=blobs,
        trust_dir=load_trust(config.trust_dir),
        seal=load_seal(config.seal_dir),
        names=Names(config.queue_prefix),
        token_cache=TokenCache(config.token_cache_seconds),
        checks=CheckPool(config.check_processes, config.trust_dir, config.inline_max_bytes),
    )
    app[HUB] = hub
    hub.checks.start()
    relay = Relay(db, broker, hub.names)
    dispatcher = Dispatcher(hub)
    chainer = Chainer(db, hub.seal, CheckpointPolicy.from_config(config))
    sealer = Sealer(hub)
    app[SEALER] = sealer
    hub.acks.arrived = sealer.wake
    live = app[pages.LIVE]

    def agency_changed(organ_id: str) -> None:
        # Sent when a change to an agency commits, by whichever process made it.
        hub.token_cache.agency_changed(organ_id)
        live.agency_changed(organ_id)
        hub.inbox.wake(organ_id)
        dispatcher.agencies_changed(organ_id)

    channels: dict[str, Callable[[str], None]] = {
        repo.INBOX_CHANNEL: hub.inbox.wake,
        repo.OUTBOX_CHANNEL: relay.wake,
        repo.AGENCY_CHANNEL: agency_changed,
        repo.AUDIT_CHANNEL: chainer.wake,
        repo.EVENTS_CHANNEL: live.publish,
        repo.SESSIONS_CHANNEL: live.sessions_ended,
    }
    listener = Listener(config.database_url, channels, on_lost=[hub.token_cache.listen_lost])
    # Wake-ups of this process's writes go out after their commit (storage.db.notify).
    notifier = Notifier(config.database_url, channels, listener)
    db.notices = notifier.send
    listener.start()
    notifier.start()
    relay.start()
    chainer.start()
    sealer.start()
    dispatcher.start()
    watch = OverdueWatch(hub)
    watch.start()
    try:
        yield
    finally:
        steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("overdue watch", watch.close),
            ("listener", listener.close),
            ("notifier", notifier.close),
            ("relay", relay.close),
            ("audit chainer", chainer.close),
            ("status sealer", sealer.close),
            ("dispatcher", dispatcher.close),
            ("rabbitmq", broker.close),
            ("letter batches", hub.letters.close),
            ("check processes", hub.checks.close),
            ("postgresql", db.close),
            ("blob store", blobs.close),
        ]
        for name, close in steps:
            await _close_step(name, close)


async def _close_step(name: str, close: Callable[[], Awaitable[None]]) -> None:
    """Shut-down never hangs on one part: each gets a bounded time, and a stuck one is named."""
    # A task of its own, left behind if it overruns: wait_for would wait on after its timeout for a
    # close that swallows its cancellation (an aio-pika or asyncpg close shielding its own clean-up).
    task = asyncio.ensure_future(close())
    done, _ = await asyncio.wait({task}, timeout=SHUTDOWN_STEP_SECONDS)
    try:
        if not done:
            task.cancel()
            task.add_done_callback(
                lambda t: t.cancelled() or t.exception()
            )  # retrieved: no warning
            raise TimeoutError
        task.result()
    except TimeoutError:
        stuck = [
            f"{t.get_name()}: {t.get_coro()!r}"
            for t in asyncio.all_tasks()
            if t is not asyncio.current_task() and not t.done()
        ]
        log.error(
            "event=shutdown_step_stuck step=%r seconds=%s tasks=%r",
            name,
            SHUTDOWN_STEP_SECONDS,
            stuck[:20],
        )
    except Exception:
        log.exception("event=shutdown_step_failed step=%r", name)


def create_app(config: Config) -> web.Application:
    app = web.Application(
        middlewares=[
            request_context,
            error_mapping,
            bodies.guard(
                config.max_document_bytes,
                [route for plugin in plugins.load() for route in plugin.package_routes],
            ),
        ],
        # The default for every route; axis.adapters.bodies raises it for the routes that take a package.
        client_max_size=bodies.FORM_LIMIT,
    )
    app[CONFIG] = config
    app.cleanup_ctx.append(_resources)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_view)
    setup_routes(app)
    vdxp_routes(app)
    pages.setup(app)
    for plugin in plugins.load():  # routes, pages and cleanup contexts of meetings/ and others
        if plugin.setup is not None:
            plugin.setup(app)
    return app
