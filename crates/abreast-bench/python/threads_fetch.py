"""Fetch pages with a thread pool, as the explainer's threading version does.

concurrent.futures.ThreadPoolExecutor maps download_site over the URLs; each thread keeps its
own requests.Session in a threading.local. Every page's <meta> tags are found with the regex
<meta .*?>. Prints one JSON line: program, workers, pages, ok, metas, seconds, cpu_seconds.

Usage: threads_fetch.py URLS_FILE [--workers N]
"""

import argparse
import concurrent.futures
import json
import re
import threading
import resource
import time

import requests

META = re.compile(rb"<meta .*?>")
thread_local = threading.local()


def cpu_seconds():
    """CPU time (user + system) of this process and of its children that have ended, in seconds."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def get_session():
    if not hasattr(thread_local, "session"):
        thread_local.session = requests.Session()
    return thread_local.session


def download_site(url):
    """Returns the number of <meta> tags on the page, or None when the fetch failed."""
    try:
        with get_session().get(url, timeout=30) as response:
            response.raise_for_status()
            return len(META.findall(response.content))
    except requests.RequestException:
        return None


def download_all_sites(sites, workers):
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as executor:
        return list(executor.map(download_site, sites))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("urls_file")
    parser.add_argument("--workers", type=int, default=5)
    args = parser.parse_args()
    with open(args.urls_file) as lines:
        sites = [line.strip() for line in lines if line.strip()]
    cpu_start = cpu_seconds()
    start = time.perf_counter()
    counts = download_all_sites(sites, args.workers)
    seconds = time.perf_counter() - start
    cpu = cpu_seconds() - cpu_start
    ok = [count for count in counts if count is not None]
    print(json.dumps({"program": "threads_fetch", "workers": args.workers, "pages": len(sites),
                      "ok": len(ok), "metas": sum(ok), "seconds": seconds,
                      "cpu_seconds": cpu}))


if __name__ == "__main__":
    main()
