"""Extract <meta> tags from HTML pages on disk: CPU-bound work, for the cpu suite.

Reads every *.html file of PAGES_DIR (sorted by name) before the clock starts, then finds the
<meta .*?> matches of each page either in a plain loop (--mode loop, the explainer's synchronous
version) or with multiprocessing.Pool.map (--mode pool, the explainer's multiprocessing version),
which sends each page to a worker process. Prints one JSON line: program, mode, workers, pages,
ok, metas, seconds, cpu_seconds.

Usage: cpu_regex.py PAGES_DIR [--mode loop|pool] [--workers N]
"""

import argparse
import json
import multiprocessing
import pathlib
import re
import resource
import time

META = re.compile(rb"<meta .*?>")


def cpu_seconds():
    """CPU time (user + system) of this process and of its children that have ended, in seconds."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def count_metas(page):
    return len(META.findall(page))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages_dir")
    parser.add_argument("--mode", choices=["loop", "pool"], default="pool")
    parser.add_argument("--workers", type=int, default=multiprocessing.cpu_count())
    args = parser.parse_args()
    pages = [path.read_bytes() for path in sorted(pathlib.Path(args.pages_dir).glob("*.html"))]
    workers = 1 if args.mode == "loop" else args.workers
    cpu_start = cpu_seconds()
    start = time.perf_counter()
    if args.mode == "loop":
        counts = [count_metas(page) for page in pages]
    else:
        with multiprocessing.Pool(workers) as pool:
            counts = pool.map(count_metas, pages)
    seconds = time.perf_counter() - start
    cpu = cpu_seconds() - cpu_start
    print(json.dumps({"program": "cpu_regex", "mode": args.mode, "workers": workers,
                      "pages": len(pages), "ok": len(pages), "metas": sum(counts),
                      "seconds": seconds,
                      "cpu_seconds": cpu}))


if __name__ == "__main__":
    main()
