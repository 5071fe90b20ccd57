"""Per-run PostgreSQL databases and RabbitMQ vhosts, so two test runs on one machine never collide."""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.parse
import uuid

BASE_DATABASE_URL = os.environ.get(
    "AXIS_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BASE_AMQP_URL = os.environ.get("AXIS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


def unique_name(prefix: str = "axis_test") -> str:
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


def _rabbitmqctl(*args: str) -> None:
    exe = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    result = subprocess.run([exe, *args], capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {result.stderr.strip()}")


def create_vhost(name: str) -> str:
    """Create a vhost for this run and return the AMQP URL that points at it."""
    user = urllib.parse.urlsplit(BASE_AMQP_URL).username or "guest"
    _rabbitmqctl("add_vhost", name)
    _rabbitmqctl("set_permissions", "-p", name, user, ".*", ".*", ".*")
    parts = urllib.parse.urlsplit(BASE_AMQP_URL)
    return urllib.parse.urlunsplit(parts._replace(path="/" + urllib.parse.quote(name, safe="")))


def delete_vhost(name: str) -> None:
    _rabbitmqctl("delete_vhost", name)
