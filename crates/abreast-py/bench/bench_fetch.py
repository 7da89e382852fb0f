"""Fetch benchmark: python + abreast against the explainer's aiohttp program and the command line.

Measures in one run, on abreast's test site started in its own process:

1. 5,000 pages of 64 KiB with no latency: ``abreast.fetch`` from Python, the explainer's aiohttp
   program (``python/async_fetch.py``: asyncio.gather over aiohttp, 100 connections), and
   ``abreast fetch`` (hybrid mode) as a subprocess. Targets: abreast >= 4x aiohttp, and within
   1.25x of the command line.
2. 1,000 pages behind 50 ms: ``abreast.fetch`` (1000 requests in flight) against the aiohttp
   program (as written: 100 connections). Target >= 3x.

Each row gives wall time and CPU time (user+sys, of this process for abreast in-process, of the
child for the subprocesses). The aiohttp program's wall time is the one it measures itself
(without interpreter start-up), as the explainer does; the command line's includes its start.

Usage: python bench_fetch.py [--pages 5000] [--latency-pages 1000] [--repeat 3] [--json FILE]
Needs: abreast installed, aiohttp; the command line from $ABREAST_CLI or target/release/abreast.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import abreast

from _common import ROOT, Timed, dump, find_cli, row, site_process

AIOHTTP_PROGRAM = ROOT / "python" / "async_fetch.py"


# With no latency every contender gets 100 connections to the one host, as the aiohttp program
# has (more only add set-up and scheduling). Behind latency abreast keeps 1000 requests in
# flight, as `abreast bench` does: a waiting request costs it a few hundred bytes, and keeping
# many in flight is the point; the aiohttp program is run as the explainer wrote it.
CONNECTIONS = 100
CONNECTIONS_BEHIND_LATENCY = 1000


def run_abreast(urls: list[str], connections: int = CONNECTIONS) -> tuple[float, float, int]:
    with Timed() as timed:
        ok = metas = 0
        for record in abreast.fetch(urls, jobs=connections, per_host=connections):
            if record["ok"]:
                ok += 1
                metas += len(record["meta"])
    assert ok == len(urls), f"abreast: {ok} of {len(urls)} pages ok"
    return timed.wall, timed.cpu, metas


def run_aiohttp(urls_file: str, count: int) -> tuple[float, float]:
    with Timed() as timed:
        done = subprocess.run(
            [sys.executable, str(AIOHTTP_PROGRAM), urls_file, "--workers", str(CONNECTIONS)],
            capture_output=True, text=True, check=True,
        )
    result = json.loads(done.stdout)
    assert result["ok"] == count, result
    return result["seconds"], timed.cpu


def run_cli(cli: str, urls_file: str, count: int) -> tuple[float, float]:
    with Timed() as timed:
        done = subprocess.run([cli, "fetch", "--mode", "hybrid", "-j", str(CONNECTIONS), "--per-host", str(CONNECTIONS), urls_file], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    ok = sum(1 for line in done.stdout.splitlines() if '"ok":true' in line)
    assert ok == count, f"cli: {ok} of {count} ok"
    return timed.wall, timed.cpu


def run_afetch_beside_ticker(urls: list[str]) -> tuple[float, float, float, float]:
    """abreast.afetch over `urls` while a coroutine ticks every 10 ms; returns wall, CPU, and
    the ticker's worst and 99th-percentile lateness in seconds."""

    async def main() -> tuple[float, list[float]]:
        late: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            loop = asyncio.get_running_loop()
            while not done.is_set():
                due = loop.time() + 0.01
                await asyncio.sleep(0.01)
                late.append(loop.time() - due)

        ticking = asyncio.create_task(ticker())
        ok = 0
        async for record in abreast.afetch(urls, jobs=CONNECTIONS, per_host=CONNECTIONS):
            ok += record["ok"]
        done.set()
        await ticking
        assert ok == len(urls), f"afetch: {ok} of {len(urls)} ok"
        return late

    with Timed() as timed:
        late = asyncio.run(main())
    late.sort()
    return timed.wall, timed.cpu, late[-1], late[int(len(late) * 0.99)]


def best(runs: list[tuple]) -> tuple:
    return min(runs, key=lambda run: run[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=5000)
    parser.add_argument("--latency-pages", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each row; the fastest is kept")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    cli = find_cli()
    rows = []

    with tempfile.TemporaryDirectory() as folder:
        print(f"== {args.pages} pages of 64 KiB, no latency (best of {args.repeat})")
        with site_process(args.pages, 64 * 1024, 0.0) as base:
            urls = [f"{base}/page/{n}" for n in range(args.pages)]
            urls_file = str(Path(folder) / "urls.txt")
            Path(urls_file).write_text("\n".join(urls) + "\n")
            run_abreast(urls[:200])  # warm the site and the client
            # Interleaved, so that a busy moment of the machine hits every contender alike.
            runs: dict[str, list] = {"ours": [], "theirs": [], "cli": []}
            for _ in range(args.repeat):
                runs["ours"].append(run_abreast(urls))
                runs["theirs"].append(run_aiohttp(urls_file, len(urls)))
                if cli:
                    runs["cli"].append(run_cli(cli, urls_file, len(urls)))
            ours, theirs = best(runs["ours"]), best(runs["theirs"])
            rows.append(row("python + abreast.fetch (hybrid)", ours[0], ours[1], len(urls)))
            rows.append(row("explainer's aiohttp program (100 conns)", theirs[0], theirs[1], len(urls)))
            if cli:
                line = best(runs["cli"])
                rows.append(row("abreast fetch --mode hybrid (CLI)", line[0], line[1], len(urls)))
            print(f"   abreast.fetch is {theirs[0] / ours[0]:.2f}x the aiohttp program (target >= 4x)")
            if cli:
                print(f"   abreast.fetch takes {ours[0] / line[0]:.2f}x the CLI's time (target <= 1.25x)")
            else:
                print("   (no abreast CLI found: set ABREAST_CLI or build with cargo build --release -p abreast-cli)")
            wall, cpu, worst, p99 = run_afetch_beside_ticker(urls)
            rows.append(row("python + abreast.afetch, 10 ms ticker beside", wall, cpu, len(urls),
                            f"ticker late: worst {worst * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"))

        print(f"== {args.latency_pages} pages behind 50 ms (best of {args.repeat})")
        with site_process(args.latency_pages, 64 * 1024, 0.05) as base:
            urls = [f"{base}/page/{n}" for n in range(args.latency_pages)]
            urls_file = str(Path(folder) / "urls-latency.txt")
            Path(urls_file).write_text("\n".join(urls) + "\n")
            run_abreast(urls[:100])
            runs = {"ours": [], "theirs": []}
            for _ in range(args.repeat):
                runs["ours"].append(run_abreast(urls, CONNECTIONS_BEHIND_LATENCY))
                runs["theirs"].append(run_aiohttp(urls_file, len(urls)))
            ours, theirs = best(runs["ours"]), best(runs["theirs"])
            rows.append(row("python + abreast.fetch, 50 ms, 1000 in flight", ours[0], ours[1], len(urls)))
            rows.append(row("explainer's aiohttp program, 50 ms", theirs[0], theirs[1], len(urls)))
            print(f"   abreast.fetch is {theirs[0] / ours[0]:.2f}x the aiohttp program (target >= 3x)")
    dump(rows, args.json)


if __name__ == "__main__":
    main()
