"""Shared fixtures: a test site per module, the abreast CLI binary, a free closed port, and a
crawler's generator that waits for its records."""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

import pytest

from abreast.testing import TestSite


@pytest.fixture(scope="module")
def site():
    """200 small pages (8 KiB), no latency."""
    with TestSite(pages=200, page_size=8 * 1024) as running:
        yield running


@pytest.fixture(scope="session")
def cli() -> str:
    """The `abreast` binary: $ABREAST_CLI (scripts/test sets it), else target/debug/abreast."""
    explicit = os.environ.get("ABREAST_CLI")
    if explicit:
        assert Path(explicit).is_file(), f"ABREAST_CLI={explicit} does not exist; run scripts/test"
        return explicit
    target = Path(os.environ.get("CARGO_TARGET_DIR", Path(__file__).resolve().parents[3] / "target"))
    for candidate in (target / "debug" / "abreast", target / "release" / "abreast", shutil.which("abreast")):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    pytest.skip("the abreast CLI is not built: run `cargo build -p abreast-cli` or scripts/test")


@pytest.fixture
def refused_url() -> str:
    """A URL on 127.0.0.1 whose port refuses connections (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def waiting_crawler():
    """Makes a crawler's generator over `urls`: it yields each, then waits (up to 60 s) until the
    caller has put it in `got`, as a crawler waits for a page's links. With it comes its state:
    whether it waited that long ("waited_out") and whether it was closed."""

    def make(urls, got):
        state = {"waited_out": False, "closed": False}

        def crawl():
            try:
                for url in urls:
                    yield url
                    deadline = time.monotonic() + 60
                    while url not in got:
                        if time.monotonic() > deadline:
                            state["waited_out"] = True
                            return
                        time.sleep(0.01)
            finally:
                state["closed"] = True

        return crawl(), state

    return make
