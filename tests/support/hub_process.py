"""The hub as a real operating-system process (`python -m axis.cli serve`), to kill and restart."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from axis.config import PROJECT_ROOT
from tests.support.private_services import free_port

# If the test process dies without cleaning up (SIGKILL, a crash), the hub dies with it.
_SETPRIV = shutil.which("setpriv")
_DIE_WITH_US = [_SETPRIV, "--pdeathsig", "KILL", "--"] if _SETPRIV else []


class HubProcess:
    """One `axis serve` process; its output goes to a log file that failures can show."""

    def __init__(
        self, env: dict[str, str], log_path: Path, name: str = "hub", workers: int = 1
    ) -> None:
        self.name = name
        self.workers = workers
        self.port = free_port()
        self.env = {"AXIS_ENV": "development", **env, "AXIS_LISTEN": f"127.0.0.1:{self.port}"}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AXIS_")}
        env.update(self.env)
        env["PYTHONPATH"] = str(PROJECT_ROOT)
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n===== {self.name} start #{self.starts} =====\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [
                    *_DIE_WITH_US,
                    sys.executable,
                    "-m",
                    "axis.cli",
                    "serve",
                    "--workers",
                    str(self.workers),
                ],
                env=env,
                cwd=PROJECT_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Until /readyz answers 200 (every dependency reached, schema current)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last = "no answer"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            while True:
                if self.proc is None or self.proc.poll() is not None:
                    raise AssertionError(f"{self.name} exited during start-up:\n{self.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(self.url + "/readyz") as resp:
                        if resp.status == 200:
                            return
                        last = f"{resp.status} {await resp.text()}"
                if loop.time() > deadline:
                    raise AssertionError(
                        f"{self.name} not ready within {timeout} s (/readyz: {last}):\n"
                        + self.log_tail()
                    )
                await asyncio.sleep(0.1)

    async def start_ready(self, timeout: float = 60.0) -> None:
        self.start()
        await self.wait_ready(timeout)

    def kill(self) -> None:
        """kill -9: no shut-down code runs, open transactions and connections just vanish."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    async def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM and wait for a clean exit; SIGKILL if it does not come."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.proc.poll() is None:
            if loop.time() > deadline:
                self.kill()
                raise AssertionError(
                    f"{self.name} did not stop within {timeout} s of SIGTERM:\n{self.log_tail()}"
                )
            await asyncio.sleep(0.05)

    def close(self) -> None:
        """Whatever happened, leave no process behind."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=30)

    def log_tail(self, lines: int = 60) -> str:
        """The last lines of the log that are not one HTTP request each."""
        kept = [line for line in self.log_text().splitlines() if "event=http " not in line]
        return "\n".join(kept[-lines:])

    def log_problems(self, lines: int = 80) -> str:
        """The errors the hub logged, with their tracebacks (the first of each kind)."""
        kept: list[str] = []
        seen: set[str] = set()
        keep = False
        for line in self.log_text().splitlines():
            if " error " in line or "Traceback" in line:
                key = line.split(" ", 2)[-1][:80]
                keep = key not in seen
                seen.add(key)
            elif " info " in line or " warning " in line:
                keep = False
            if keep:
                kept.append(line)
        return "\n".join(kept[-lines:])

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""
