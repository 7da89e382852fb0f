"""Extract JSON-LD and OpenGraph from HTML pages on disk with extruct: what Python users reach
for to read a page's structured data, for the cpu suite's comparison with abreast's extraction.

Reads every *.html file of PAGES_DIR (sorted by name) before the clock starts, then runs
extruct.extract(page, syntaxes=["json-ld", "opengraph"]) on each in a plain loop (one core).
Prints one JSON line: program, mode, workers, pages, ok, metas, seconds, cpu_seconds (metas
counts the JSON-LD items and OpenGraph properties found).

Usage: cpu_extruct.py PAGES_DIR
"""

import argparse
import json
import pathlib
import resource
import time

import extruct


def cpu_seconds():
    """CPU time (user + system) of this process and of its children that have ended, in seconds."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def found(page):
    data = extruct.extract(page, syntaxes=["json-ld", "opengraph"], uniform=False)
    properties = sum(len(item.get("properties", [])) for item in data.get("opengraph", []))
    return len(data.get("json-ld", [])) + properties


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages_dir")
    args = parser.parse_args()
    pages = [path.read_bytes() for path in sorted(pathlib.Path(args.pages_dir).glob("*.html"))]
    cpu_start = cpu_seconds()
    start = time.perf_counter()
    counts = [found(page) for page in pages]
    seconds = time.perf_counter() - start
    cpu = cpu_seconds() - cpu_start
    print(json.dumps({"program": "cpu_extruct", "mode": "loop", "workers": 1,
                      "pages": len(pages), "ok": len(pages), "metas": sum(counts),
                      "seconds": seconds, "cpu_seconds": cpu}))


if __name__ == "__main__":
    main()
