"""A RabbitMQ node and a PostgreSQL cluster of a test's own, to stop, crash and restart at will.

The machine's shared RabbitMQ and PostgreSQL serve every other test run at the same moment, so a
test that takes a dependency away starts its own: data lives in a temporary folder owned by the
service's system user, survives a restart (durable quorum queues keep their messages, committed
rows stay), and everything is removed by close() even after a failed test.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

from axis import plugins
from storage import migrations
from storage.db import ensure_database, with_database


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _chown(path: Path, user: str) -> None:
    subprocess.run(["chown", "-R", f"{user}:{user}", str(path)], check=True, timeout=30)


def _run(cmd: list[str], timeout: float, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}"
        )
    return result.stdout


def _pids_of_user_matching(user: str, needle: str) -> list[int]:
    """Processes of `user` whose command line holds `needle` (our unique data folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != _uid(user):
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (entry / "environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if needle in cmdline or needle in environ:
            found.append(int(entry.name))
    return found


def _uid(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_uid


class PrivateRabbit:
    """A single RabbitMQ node on its own ports, with its data in a temporary folder."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="axis-rabbit-"))
        self.port = free_port()
        self.dist_port = free_port()
        self.node = f"axis_{os.getpid()}_{uuid.uuid4().hex[:6]}@localhost"
        (self.dir / "enabled_plugins").write_text("[].\n")
        (self.dir / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\nloopback_users = none\n"
        )
        _chown(self.dir, "rabbitmq")

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.dir / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.dir / "log"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.dir / "enabled_plugins"),
            RABBITMQ_CONFIG_FILE=str(self.dir / "rabbitmq"),
            RABBITMQ_PID_FILE=str(self.dir / "pid"),
        )
        return env

    def start(self) -> None:
        (self.dir / "pid").unlink(missing_ok=True)
        _run(["rabbitmq-server", "-detached"], timeout=60, env=self._env())
        # `wait` returns once the node booted and its applications run.
        _run(
            ["rabbitmqctl", "-n", self.node, "wait", str(self.dir / "pid"), "--timeout", "90"],
            timeout=120,
            env=self._env(),
        )

    def stop(self) -> None:
        """A clean shut-down: the broker closes its connections and writes its state."""
        _run(["rabbitmqctl", "-n", self.node, "stop"], timeout=90, env=self._env())
        self._wait_gone(30)

    def crash(self) -> None:
        """SIGKILL the node's Erlang VM, like a power cut (the epmd registration goes with it)."""
        for pid in self._pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._wait_gone(30)

    def running(self) -> bool:
        return bool(self._beam_pids())

    def restart(self, *, crash: bool = False) -> None:
        if crash:
            self.crash()
        else:
            self.stop()
        self.start()

    def _pids(self) -> list[int]:
        return _pids_of_user_matching("rabbitmq", str(self.dir))

    def _wait_gone(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self._beam_pids():
            if time.monotonic() > deadline:
                raise RuntimeError(f"RabbitMQ node {self.node} did not stop within {timeout} s")
            time.sleep(0.1)

    def _beam_pids(self) -> list[int]:
        out = []
        for pid in self._pids():
            with contextlib.suppress(OSError):
                if b"beam" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    state = Path(f"/proc/{pid}/stat").read_text().split()[2]
                    if state != "Z":
                        out.append(pid)
        return out

    def close(self) -> None:
        with contextlib.suppress(Exception):
            _run(["rabbitmqctl", "-n", self.node, "stop"], timeout=30, env=self._env())
        for pid in self._pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


def _postgres_bin() -> Path:
    base = Path("/usr/lib/postgresql")
    versions = sorted(
        (p for p in base.iterdir() if (p / "bin" / "pg_ctl").exists()),
        key=lambda p: int(p.name) if p.name.isdigit() else 0,
    )
    if not versions:
        raise RuntimeError("no PostgreSQL server under /usr/lib/postgresql")
    return versions[-1] / "bin"


class PrivatePostgres:
    """A PostgreSQL cluster on its own port and socket folder, owned by the postgres user."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="axis-pg-"))
        self.port = free_port()
        self.bin = _postgres_bin()
        _chown(self.dir, "postgres")
        self._as_postgres(
            [
                str(self.bin / "initdb"),
                "-D",
                str(self.dir / "data"),
                "-A",
                "trust",
                "-U",
                "postgres",
            ],
            timeout=120,
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _as_postgres(self, cmd: list[str], timeout: float) -> str:
        return _run(["runuser", "-u", "postgres", "--", *cmd], timeout=timeout)

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=on "
            "-c max_connections=200"
        )
        self._as_postgres(
            [
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.dir / "data"),
                "-o",
                options,
                "-l",
                str(self.dir / "log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
            timeout=90,
        )

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends sessions and shuts down cleanly; `immediate` is a crash (recovery at start)."""
        self._as_postgres(
            [str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", mode, "-w", "stop"],
            timeout=90,
        )

    def running(self) -> bool:
        status = subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.dir / "data"),
                "status",
            ],
            capture_output=True,
            timeout=30,
            check=False,
        )
        return status.returncode == 0

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    async def create_database(self, name: str) -> str:
        """A migrated database on this cluster; returns its URL."""
        url = self.url(name)
        await ensure_database(url)
        conn = await asyncpg.connect(url)
        try:
            await migrations.apply(conn, plugins.migration_dirs())
        finally:
            await conn.close()
        return url

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        for pid in _pids_of_user_matching("postgres", str(self.dir)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


__all__ = ["PrivatePostgres", "PrivateRabbit", "free_port", "with_database"]
