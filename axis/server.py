"""Running the hub: one process, or several sharing the listening port (SO_REUSEPORT) and the queues."""

from __future__ import annotations

import multiprocessing
import signal
import ssl
import sys

from aiohttp import web

from axis.adapters.bodies import SERVER_SETTINGS
from axis.app import create_app
from axis.config import Config
from axis.logs import setup_logging


def _serve_one(config: Config, reuse_port: bool) -> None:
    setup_logging(config.log_format, config.log_level)
    web.run_app(
        create_app(config),
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
    ctx = multiprocessing.get_context("spawn")
    children = [
        ctx.Process(target=_serve_one, args=(config, True), name=f"axis-worker-{i}")
        for i in range(workers)
    ]
    for child in children:
        child.start()

    def stop(signum: int, frame: object) -> None:
        for child in children:
            if child.is_alive():
                child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
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
