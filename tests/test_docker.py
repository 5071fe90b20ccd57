"""docker/ cannot run here, so its promises are checked by reading the files: a clustered RabbitMQ
with quorum queues by default, healthy PostgreSQL and MinIO, two axis replicas after a migration,
only AXIS_* variables the service knows, and a non-root image whose health is /readyz."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from axis.config import KNOWN_VARIABLES

DOCKER = Path(__file__).resolve().parent.parent / "docker"
COMPOSE = DOCKER / "compose.yaml"
DOCKERFILE = DOCKER / "Dockerfile"

Compose = dict[str, Any]


def load_compose() -> Compose:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, whichever of compose's two spellings it uses."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.partition("=")[::2] for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def rabbitmq_services(compose: Compose) -> dict[str, dict[str, Any]]:
    return {
        name: s
        for name, s in compose["services"].items()
        if str(s.get("image", "")).startswith("rabbitmq:")
    }


def mounted_rabbitmq_config(service: dict[str, Any]) -> str:
    """The text of every file the service mounts under /etc/rabbitmq/."""
    texts = []
    for volume in service.get("volumes", []):
        source, _, target = str(volume).partition(":")
        if target.startswith("/etc/rabbitmq/") and source.startswith("."):
            texts.append((DOCKER / source).read_text(encoding="utf-8"))
    return "\n".join(texts)


def conf_settings(text: str) -> dict[str, str]:
    """rabbitmq.conf (sysctl format) as key -> value, comments dropped."""
    settings = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            key, _, value = line.partition("=")
            settings[key.strip()] = value.strip()
    return settings


def axis_variables(node: Any) -> set[str]:
    """Every AXIS_* name set anywhere in the compose file (mapping keys or KEY=value items)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if str(key).startswith("AXIS_"):
                found.add(str(key))
            found |= axis_variables(value)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, str) and re.match(r"AXIS_\w+=", item):
                found.add(item.partition("=")[0])
            found |= axis_variables(item)
    return found


def is_axis_image(service: dict[str, Any], compose: Compose) -> bool:
    built = {s.get("image") for s in compose["services"].values() if "build" in s}
    return "build" in service or service.get("image") in built


def command_of(service: dict[str, Any]) -> list[str]:
    command = service.get("command", ["serve"])
    return command.split() if isinstance(command, str) else [str(c) for c in command]


def problems_with_cluster(compose: Compose) -> list[str]:
    problems = []
    nodes = rabbitmq_services(compose)
    if len(nodes) != 3:
        problems.append(f"expected three RabbitMQ nodes, found {sorted(nodes)}")
    cookies = {environment(s).get("RABBITMQ_ERLANG_COOKIE", "") for s in nodes.values()}
    if len(cookies) != 1 or not cookies.pop():
        problems.append("the RabbitMQ nodes do not share one Erlang cookie")
    hostnames = {f"rabbit@{s.get('hostname', name)}" for name, s in nodes.items()}
    for name, service in nodes.items():
        settings = conf_settings(mounted_rabbitmq_config(service))
        if settings.get("default_queue_type") != "quorum":
            problems.append(f"{name}: default_queue_type is not quorum")
        if settings.get("cluster_formation.peer_discovery_backend") not in (
            "classic_config",
            "rabbit_peer_discovery_classic_config",
        ):
            problems.append(f"{name}: peer discovery is not classic_config")
        peers = {v for k, v in settings.items() if k.startswith("cluster_formation.classic_config")}
        if peers != hostnames:
            problems.append(
                f"{name}: classic_config lists {sorted(peers)}, not {sorted(hostnames)}"
            )
        if not service.get("healthcheck", {}).get("test"):
            problems.append(f"{name}: no healthcheck")
    return problems


def problems_with_replicas(compose: Compose) -> list[str]:
    services = compose["services"]
    axis = {n: s for n, s in services.items() if is_axis_image(s, compose)}
    migrations = [n for n, s in axis.items() if command_of(s)[:1] == ["migrate"]]
    replicas = {n: s for n, s in axis.items() if command_of(s)[:1] == ["serve"]}
    problems = []
    if len(replicas) < 2:
        problems.append(f"expected at least two axis replicas, found {sorted(replicas)}")
    if len(migrations) != 1:
        problems.append(f"expected one migrate service, found {migrations}")
    for name, service in replicas.items():
        depends = service.get("depends_on") or {}
        waits = [
            m
            for m in migrations
            if isinstance(depends, dict)
            and depends.get(m, {}).get("condition") == "service_completed_successfully"
        ]
        if not waits:
            problems.append(f"{name} does not wait for the migration to complete")
    return problems


def problems_with_dependencies(compose: Compose) -> list[str]:
    problems = []
    for image in ("postgres:16", "minio/minio"):
        matching = [
            s for s in compose["services"].values() if str(s.get("image", "")).startswith(image)
        ]
        if not matching:
            problems.append(f"no {image} service")
        for service in matching:
            check = service.get("healthcheck") or {}
            if not check.get("test") or check.get("disable"):
                problems.append(f"{image} has no healthcheck")
            if not service.get("volumes"):
                problems.append(f"{image} keeps its data in the container, not a volume")
    return problems


def unknown_axis_variables(compose: Compose) -> set[str]:
    return axis_variables(compose) - KNOWN_VARIABLES


def final_stage(dockerfile: str) -> list[str]:
    """Instructions of the last stage, with continuation lines joined."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    lines = [ln.strip() for ln in joined.splitlines() if ln.strip() and not ln.startswith("#")]
    last_from = max(i for i, ln in enumerate(lines) if ln.upper().startswith("FROM "))
    return lines[last_from:]


def problems_with_dockerfile(dockerfile: str) -> list[str]:
    stage = final_stage(dockerfile)
    problems = []
    users = [ln.split(None, 1)[1] for ln in stage if ln.upper().startswith("USER ")]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("the image runs as root")
    checks = [ln for ln in stage if ln.upper().startswith("HEALTHCHECK ")]
    if not checks or "/readyz" not in checks[-1] or "NONE" in checks[-1].split():
        problems.append("the image has no HEALTHCHECK on /readyz")
    if not any(ln.upper().startswith("FROM PYTHON:3.11-SLIM") for ln in stage):
        problems.append("the image is not based on python:3.11-slim")
    env_names = set(
        re.findall(r"\b(AXIS_\w+)=", " ".join(ln for ln in stage if ln.startswith("ENV")))
    )
    if env_names - KNOWN_VARIABLES:
        problems.append(f"ENV sets unknown variables {sorted(env_names - KNOWN_VARIABLES)}")
    return problems


# --- the files as they are ---


def test_rabbitmq_runs_as_a_three_node_cluster_with_quorum_queues_by_default() -> None:
    assert problems_with_cluster(load_compose()) == []


def test_postgres_and_minio_keep_data_in_volumes_and_report_their_health() -> None:
    assert problems_with_dependencies(load_compose()) == []


def test_two_axis_replicas_start_after_the_migration_completes() -> None:
    assert problems_with_replicas(load_compose()) == []


def test_every_axis_variable_in_the_compose_file_is_one_the_service_reads() -> None:
    compose = load_compose()
    assert axis_variables(compose) >= {"AXIS_DATABASE_URL", "AXIS_AMQP_URL", "AXIS_BLOB_URL"}
    assert unknown_axis_variables(compose) == set()


def test_the_image_runs_as_a_user_and_checks_its_health_on_readyz() -> None:
    assert problems_with_dockerfile(DOCKERFILE.read_text(encoding="utf-8")) == []


def test_the_replicas_reach_minio_by_s3_url_and_rabbitmq_by_the_shared_alias() -> None:
    compose = load_compose()
    for name, service in compose["services"].items():
        env = environment(service)
        if "AXIS_BLOB_URL" in env:
            assert env["AXIS_BLOB_URL"].startswith("s3://"), name
            assert env["AXIS_BLOB_URL"].endswith("@minio:9000/axis"), name
        if "AXIS_AMQP_URL" in env:
            alias_holders = [
                n
                for n, s in rabbitmq_services(compose).items()
                if "rabbitmq" in (s.get("networks", {}).get("default", {}) or {}).get("aliases", [])
            ]
            assert "@rabbitmq:5672/" in env["AXIS_AMQP_URL"], name
            assert len(alias_holders) == 3, "every RabbitMQ node answers to the alias"


# --- the checks above notice breakage ---


def broken(change: str) -> Compose:
    compose = load_compose()
    # YAML anchors make services share one mapping; give each its own before changing one.
    services = compose["services"] = {n: copy.deepcopy(s) for n, s in compose["services"].items()}
    if change == "cookie":
        services["rabbitmq-2"]["environment"]["RABBITMQ_ERLANG_COOKIE"] = "another"
    elif change == "two nodes":
        del services["rabbitmq-3"]
    elif change == "unknown variable":
        services["axis-1"]["environment"]["AXIS_DATABSE_URL"] = "postgresql://typo"
    elif change == "one replica":
        del services["axis-2"]
    elif change == "no migration wait":
        del services["axis-1"]["depends_on"]["migrate"]
    elif change == "postgres without healthcheck":
        del services["postgres"]["healthcheck"]
    return compose


@pytest.mark.parametrize(
    ("change", "check"),
    [
        ("cookie", problems_with_cluster),
        ("two nodes", problems_with_cluster),
        ("one replica", problems_with_replicas),
        ("no migration wait", problems_with_replicas),
        ("postgres without healthcheck", problems_with_dependencies),
        ("unknown variable", lambda c: sorted(unknown_axis_variables(c))),
    ],
)
def test_the_compose_checks_catch_a_broken_cluster(change: str, check: Any) -> None:
    assert check(broken(change)) != []


def test_a_cluster_config_without_quorum_default_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (DOCKER / "rabbitmq.conf").read_text(encoding="utf-8")
    assert "default_queue_type = quorum" in text
    monkeypatch.setattr(
        f"{__name__}.mounted_rabbitmq_config",
        lambda service: text.replace("default_queue_type = quorum", "default_queue_type = classic"),
    )

    assert any("quorum" in p for p in problems_with_cluster(load_compose()))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("USER 10001:10001", "USER root"),
        ("USER 10001:10001", "USER 0"),
        ("/readyz", "/healthz"),
        ("AXIS_LOG_FORMAT=json", "AXIS_LOGFORMAT=json"),
    ],
)
def test_the_dockerfile_checks_catch_a_root_user_or_a_missing_readiness_check(
    old: str, new: str
) -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert old in text

    assert problems_with_dockerfile(text.replace(old, new)) != []
