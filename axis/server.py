"""Running the hub: one process, or a supervisor and several hub processes sharing the listening
port (SO_REUSEPORT) and the queues; each process has its own connections and background loops."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import signal
import ssl
import sys
import time
from multiprocessing.process import BaseProcess

from aiohttp import web

from axis.adapters.bodies import SERVER_SETTINGS
from axis.app import create_app
from axis.config import Config
from axis.logs import setup_logging

log = logging.getLogger("axis.server")

#: Seconds the hub processes have to finish after SIGTERM before they are killed.
STOP_TIMEOUT = 30.0
#: A hub process that dies sooner than this after its start is restarted after a growing pause
#: (1, 2, 4 … 30 s), so a hub that cannot start does not spin.
STEADY_AFTER = 10.0
MAX_PAUSE = 30.0


def _die_with_parent() -> None:
    """A hub process of a supervisor gets SIGTERM when the supervisor dies, even by kill -9."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _serve_one(config: Config, reuse_port: bool) -> None:
    if reuse_port:
        _die_with_parent()
    setup_logging(config.log_format, config.log_level)
    loop = None
    if config.event_loop == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    web.run_app(
        create_app(config),
        loop=loop,
        host=config.listen_host,
        port=config.listen_port,
        reuse_port=reuse_port,
        ssl_context=tls_context(config),
        access_log=None,
        print=None,
        handle_signals=True,
        **SERVER_SETTINGS,
    )


def run_server(config: Config, *, workers: int = 1) -> None:
    scheme = "https" if config.tls_cert else "http"
    url = f"{scheme}://{config.listen_host}:{config.listen_port}"
    print(f"axis: serving on {url} with {workers} worker(s); press Ctrl-C to stop", file=sys.stderr)
    if workers == 1:
        _serve_one(config, reuse_port=False)
        return
    setup_logging(config.log_format, config.log_level)
    Supervisor(config, workers).run()


class Supervisor:
    """Starts `workers` hub processes, starts again any that dies, and on SIGTERM or SIGINT stops
    them all (each drains as a single hub does) before it exits."""

    def __init__(self, config: Config, workers: int) -> None:
        self.config = config
        self.context = multiprocessing.get_context("spawn")
        self.slots: list[BaseProcess | None] = [None] * workers
        self.started_at = [0.0] * workers
        self.pauses = [0.0] * workers
        self.due_at = [0.0] * workers
        self.stopping = False

    def _start(self, slot: int) -> None:
        child = self.context.Process(
            target=_serve_one, args=(self.config, True), name=f"axis-worker-{slot}"
        )
        child.start()
        self.slots[slot] = child
        self.started_at[slot] = time.monotonic()
        log.info("event=worker_started slot=%d pid=%s", slot, child.pid)

    def _stop(self, signum: int, frame: object) -> None:
        self.stopping = True

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for slot in range(len(self.slots)):
            self._start(slot)
        while not self.stopping:
            alive = [c.sentinel for c in self.slots if c is not None]
            multiprocessing.connection.wait(alive, timeout=0.5)
            now = time.monotonic()
            for slot, child in enumerate(self.slots):
                if self.stopping:
                    break
                if child is not None and child.exitcode is not None:
                    self._exited(slot, child, now)
                elif child is None and now >= self.due_at[slot]:
                    self._start(slot)
        self._stop_all()

    def _exited(self, slot: int, child: BaseProcess, now: float) -> None:
        """A hub process died: start another, at once if it had run a while, else after a pause."""
        pid, code = child.pid, child.exitcode
        child.close()
        self.slots[slot] = None
        if now - self.started_at[slot] >= STEADY_AFTER:
            self.pauses[slot] = 0.0
        else:
            self.pauses[slot] = min(MAX_PAUSE, max(1.0, self.pauses[slot] * 2))
        self.due_at[slot] = now + self.pauses[slot]
        log.error(
            "event=worker_exited slot=%d pid=%s code=%s restart_in=%.0fs",
            slot,
            pid,
            code,
            self.pauses[slot],
        )

    def _stop_all(self) -> None:
        children = [c for c in self.slots if c is not None and c.exitcode is None]
        log.info("event=stopping workers=%d", len(children))
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                child.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in children:
            child.join(max(0.0, deadline - time.monotonic()))
            if child.exitcode is None:
                log.error("event=worker_killed pid=%s after=%.0fs", child.pid, STOP_TIMEOUT)
                child.kill()
                child.join()


def tls_context(config: Config) -> ssl.SSLContext | None:
    """HTTPS when AXIS_TLS_CERT/KEY are set; client certificates required with AXIS_TLS_CLIENT_CA."""
    if not config.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(config.tls_cert, config.tls_key)
    if config.tls_client_ca:
        context.load_verify_locations(cafile=config.tls_client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context
