"""`axis bench edoc`: how fast edoc.parse reads packages of a few sizes, and how much memory it
needs; each size is parsed in a fresh child process so its peak RSS is the parser's own."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from axis.cli.doc import parse_size
from axis.cli.output import emit, fail
from edoc import build as build_package
from edoc import sample
from edoc import write as write_package

# Run in the child: parse the file (attachments streamed to a discarding sink) until at least
# half a second has passed, then report the time per parse and the peak RSS.
_CHILD = r"""
import json, resource, sys, time
import edoc

def peak_kib():
    # VmHWM is this process's own peak RSS; ru_maxrss can carry the parent's across fork/exec.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

class Discard:
    def write(self, data):
        return len(data)

path = sys.argv[1]
base = peak_kib()
runs, started = 0, time.perf_counter()
while True:
    with open(path, "rb") as stream:
        package = edoc.parse(stream, attachment_sink=lambda a: Discard())
    runs += 1
    elapsed = time.perf_counter() - started
    if elapsed >= 0.5 or runs >= 200:
        break
print(json.dumps({"runs": runs, "seconds": elapsed / runs, "base_kib": base, "peak_kib": peak_kib(),
                  "sha256": package.attachments[0].sha256 if package.attachments else None}))
"""


def _make(path: Path, size: int) -> int:
    """A one-attachment letter whose whole file is about `size` bytes, written streaming."""
    header_bytes = len(build_package(sample.make_letter(attachments=0, seed=1)))
    attachment = max(1, (size - header_bytes - 600) * 3 // 4)
    letter = sample.make_letter(attachments=1, size=attachment, seed=1, with_data=False)
    with path.open("wb") as out:
        write_package(letter, out, attachment_source=sample.open_filler)
    return path.stat().st_size


@click.command("edoc")
@click.option(
    "--sizes", default="10KB,1MB,300MB", show_default=True, help="Package sizes, comma-separated."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON even on a terminal.")
def edoc(sizes: str, as_json: bool) -> None:
    """Parse throughput (MB/s) and peak memory of edoc.parse for packages of each size.

    Packages are generated into a temporary directory; each is parsed in a child process whose
    peak RSS (VmHWM, or ru_maxrss) shows that attachments stream rather than sit in memory.

    Example: axis bench edoc --sizes 10KB,1MB,50MB
    """
    targets = [parse_size(s) for s in sizes.split(",") if s.strip()]
    if not targets:
        fail("--sizes needs at least one size")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="axis-bench-edoc-") as tmp:
        for target in targets:
            path = Path(tmp) / f"letter-{target}.edxml"
            made = time.perf_counter()
            actual = _make(path, target)
            made = time.perf_counter() - made
            result = subprocess.run(
                [sys.executable, "-c", _CHILD, str(path)],
                capture_output=True,
                text=True,
                check=False,
            )
            path.unlink()
            if result.returncode != 0:
                fail(f"parsing {actual} bytes failed: {result.stderr.strip().splitlines()[-1:]}")
            figures = json.loads(result.stdout)
            rows.append(
                {
                    "package_bytes": actual,
                    "runs": figures["runs"],
                    "parse_seconds": round(figures["seconds"], 6),
                    "mb_per_s": round(actual / figures["seconds"] / 1e6, 1),
                    "peak_rss_mib": round(figures["peak_kib"] / 1024, 1),
                    "rss_growth_mib": round((figures["peak_kib"] - figures["base_kib"]) / 1024, 1),
                    "generate_seconds": round(made, 2),
                }
            )
    lines = [f"{'package':>12}  {'parse':>10}  {'MB/s':>8}  {'peak RSS':>10}  {'growth':>8}"]
    for row in rows:
        lines.append(
            f"{_human(row['package_bytes']):>12}  {row['parse_seconds'] * 1000:>8.1f}ms  "
            f"{row['mb_per_s']:>8.1f}  {row['peak_rss_mib']:>7.1f}MiB  {row['rss_growth_mib']:>5.1f}MiB"
        )
    emit(rows, as_json=as_json, text="\n".join(lines))


def _human(size: int) -> str:
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"
