"""Fetch pages from Python with abreast: the explainer's job as its readers call it with the
`abreast` package (crates/abreast-py), in the hybrid mode, with the GIL released while it waits.
Counts every page's <meta> tags from the records. Prints one JSON line: program, workers, pages,
ok, metas, seconds, cpu_seconds.

For HTTPS on the test site's many names (abreast bench fetch --tls), --cafile trusts the site's
CA and --dns-server IP:PORT resolves names through the site's name server (abreast.fetch's
cacert= and dns_servers=).

Usage: abreast_fetch.py URLS_FILE [--workers N] [--cafile FILE] [--dns-server IP:PORT]
"""

import argparse
import json
import resource
import time

import abreast


def cpu_seconds():
    """CPU time (user + system) of this process and of its children that have ended, in seconds."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("urls_file")
    parser.add_argument("--workers", type=int, default=100)
    parser.add_argument("--cafile", help="trust this CA's PEM for HTTPS")
    parser.add_argument("--dns-server", help="resolve names through this name server, IP:PORT")
    args = parser.parse_args()
    options = {}
    if args.cafile:
        options["cacert"] = args.cafile
    if args.dns_server:
        options["dns_servers"] = [args.dns_server]
    with open(args.urls_file) as lines:
        sites = [line.strip() for line in lines if line.strip()]
    cpu_start = cpu_seconds()
    start = time.perf_counter()
    ok = metas = 0
    for record in abreast.fetch(sites, jobs=args.workers, per_host=args.workers, **options):
        if record["ok"]:
            ok += 1
            metas += len(record["meta"])
    seconds = time.perf_counter() - start
    cpu = cpu_seconds() - cpu_start
    # A debug build (maturin develop without --release) is many times slower: the bench says so.
    build = getattr(abreast._abreast, "BUILD_PROFILE", None)
    print(json.dumps({"program": "abreast_fetch", "workers": args.workers, "pages": len(sites),
                      "ok": ok, "metas": metas, "seconds": seconds, "cpu_seconds": cpu,
                      "build": build}))


if __name__ == "__main__":
    main()
