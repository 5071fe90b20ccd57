"""/healthz, /readyz and /metrics: readiness names what is missing and recovers by itself."""

from __future__ import annotations

import urllib.parse
from dataclasses import replace

from axis.config import Config
from tests.support.proxy import TcpProxy
from tests.support.waiting import wait_for


def _through(url: str, proxy: TcpProxy) -> str:
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    creds = netloc[0] + "@" if len(netloc) == 2 else ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{creds}127.0.0.1:{proxy.port}"))


async def _ready(client) -> tuple[int, dict]:
    resp = await client.get("/readyz")
    return resp.status, await resp.json()


async def test_healthz_answers_while_the_process_lives(client_for, hub_config: Config) -> None:
    client = await client_for(hub_config)
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert (await resp.json())["status"] == "alive"


async def test_readyz_is_ok_when_every_dependency_answers(client_for, hub_config: Config) -> None:
    client = await client_for(hub_config)
    status, body = await wait_for(lambda: _ready_ok(client))
    assert status == 200
    assert body["failing"] == []
    assert set(body["checks"]) == {"postgresql", "rabbitmq", "blob_store"}


async def _ready_ok(client) -> tuple[int, dict] | None:
    status, body = await _ready(client)
    return (status, body) if status == 200 else None


async def test_readyz_names_rabbitmq_when_it_goes_away_and_recovers_without_restart(
    client_for, hub_config: Config
) -> None:
    parts = urllib.parse.urlsplit(hub_config.amqp_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5672)
    await proxy.start()
    client = await client_for(replace(hub_config, amqp_url=_through(hub_config.amqp_url, proxy)))
    await wait_for(lambda: _ready_ok(client))

    await proxy.stop()
    status, body = await wait_for(lambda: _ready_failing(client))
    assert status == 503
    assert body["failing"] == ["rabbitmq"]
    assert body["checks"]["postgresql"]["ok"] is True

    await proxy.start()  # the same port again, like a restarted broker
    await wait_for(lambda: _ready_ok(client), timeout=45)
    await proxy.stop()


async def test_readyz_names_postgresql_when_it_goes_away_and_recovers_without_restart(
    client_for, hub_config: Config
) -> None:
    parts = urllib.parse.urlsplit(hub_config.database_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    client = await client_for(
        replace(hub_config, database_url=_through(hub_config.database_url, proxy))
    )
    await wait_for(lambda: _ready_ok(client))

    await proxy.stop()
    _, body = await wait_for(lambda: _ready_failing(client))
    assert body["failing"] == ["postgresql"]

    await proxy.start()
    await wait_for(lambda: _ready_ok(client), timeout=45)
    await proxy.stop()


async def test_readyz_is_503_when_the_database_schema_is_behind(
    client_for, hub_config: Config, empty_database_url: str
) -> None:
    client = await client_for(replace(hub_config, database_url=empty_database_url))

    async def only_postgres_failing():
        found = await _ready_failing(client)
        return found if found and found[1]["failing"] == ["postgresql"] else None

    _, body = await wait_for(only_postgres_failing)
    assert "migrations pending" in body["checks"]["postgresql"]["error"]


async def test_service_starts_while_rabbitmq_is_down_and_becomes_ready_when_it_appears(
    client_for, hub_config: Config
) -> None:
    parts = urllib.parse.urlsplit(hub_config.amqp_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5672)
    await proxy.start()
    url = _through(hub_config.amqp_url, proxy)
    await proxy.stop()
    client = await client_for(replace(hub_config, amqp_url=url))
    _, body = await wait_for(lambda: _ready_failing(client))
    assert "rabbitmq" in body["failing"]
    await proxy.start()
    await wait_for(lambda: _ready_ok(client), timeout=45)
    await proxy.stop()


async def _ready_failing(client) -> tuple[int, dict] | None:
    status, body = await _ready(client)
    return (status, body) if status == 503 else None


async def test_metrics_are_exposed_for_prometheus(client_for, hub_config: Config) -> None:
    client = await client_for(hub_config)
    await client.get("/healthz")
    resp = await client.get("/metrics")
    assert resp.status == 200
    text = await resp.text()
    assert "axis_http_requests_total" in text
    assert "axis_letter_stage_total" in text or "axis_http_request_seconds" in text


async def test_requests_are_counted_by_route_and_any_other_method_as_other(
    client_for, hub_config: Config
) -> None:
    client = await client_for(hub_config)
    await client.get("/healthz")
    for method in ("PROPFIND", "MKCOL", "LOCK"):  # each a label of its own before
        await client.request(method, "/healthz")
    text = await (await client.get("/metrics")).text()
    counted = [line for line in text.splitlines() if line.startswith("axis_http_requests_total{")]
    assert any('method="GET"' in line and 'route="/healthz"' in line for line in counted)
    assert any('method="other"' in line for line in counted)
    assert not any("PROPFIND" in line or "MKCOL" in line for line in counted)
