"""Helpers of the Python benchmarks: a test site in its own process, timing with CPU time."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

ROOT = Path(__file__).resolve().parents[3]


@contextmanager
def site_process(pages: int, page_size: int, latency: float) -> Iterator[str]:
    """Runs abreast.testing.TestSite in a child interpreter (so its CPU is not counted as the
    client's) and yields its base URL."""
    code = (
        "import sys\n"
        "from abreast.testing import TestSite\n"
        f"site = TestSite(pages={pages}, page_size={page_size}, latency={latency})\n"
        "print(site.base_url, flush=True)\n"
        "sys.stdin.read()\n"
        "site.close()\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        base_url = child.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:"), base_url
        yield base_url
    finally:
        child.stdin.close()
        child.wait(timeout=60)


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Timed:
    """Wall and CPU (user+sys of this process and of the children it waited for) of a block."""

    def __enter__(self) -> "Timed":
        self.wall0, self.self0, self.children0 = time.perf_counter(), cpu_self(), cpu_children()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = (cpu_self() - self.self0) + (cpu_children() - self.children0)


def find_cli() -> Optional[str]:
    """The abreast binary: $ABREAST_CLI, else a release build in the target directory."""
    explicit = os.environ.get("ABREAST_CLI")
    if explicit:
        return explicit
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    candidate = target / "release" / "abreast"
    if candidate.is_file():
        return str(candidate)
    return shutil.which("abreast")


def row(name: str, wall: float, cpu: float, pages: int, extra: str = "") -> dict:
    line = {"row": name, "wall_s": round(wall, 4), "cpu_s": round(cpu, 4), "pages": pages}
    print(f"{name:<44} wall {wall:8.3f} s  cpu {cpu:8.3f} s  {pages / wall:9.0f} pages/s {extra}", flush=True)
    return line


def dump(rows: list, path: Optional[str]) -> None:
    if path:
        Path(path).write_text(json.dumps(rows, indent=2) + "\n")
