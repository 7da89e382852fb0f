"""Fetch pages with coroutines, as the explainer's asyncio version does.

One aiohttp.ClientSession is shared by one coroutine per URL, all run at once with
asyncio.gather; the session's connector allows at most --workers connections at a time. Every
page's <meta> tags are found with the regex <meta .*?>. Prints one JSON line: program, workers,
pages, ok, metas, seconds, cpu_seconds.

Usage: async_fetch.py URLS_FILE [--workers N]
"""

import argparse
import asyncio
import json
import re
import resource
import time

import aiohttp

META = re.compile(rb"<meta .*?>")


async def download_site(session, url):
    """Returns the number of <meta> tags on the page; raises when the fetch failed."""
    async with session.get(url, raise_for_status=True) as response:
        return len(META.findall(await response.read()))


async def download_all_sites(sites, workers):
    connector = aiohttp.TCPConnector(limit=workers)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = [asyncio.ensure_future(download_site(session, url)) for url in sites]
        return await asyncio.gather(*tasks, return_exceptions=True)


def cpu_seconds():
    """CPU time (user + system) of this process and of its children that have ended, in seconds."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("urls_file")
    parser.add_argument("--workers", type=int, default=100)
    args = parser.parse_args()
    with open(args.urls_file) as lines:
        sites = [line.strip() for line in lines if line.strip()]
    cpu_start = cpu_seconds()
    start = time.perf_counter()
    results = asyncio.run(download_all_sites(sites, args.workers))
    seconds = time.perf_counter() - start
    cpu = cpu_seconds() - cpu_start
    ok = [count for count in results if isinstance(count, int)]
    print(json.dumps({"program": "async_fetch", "workers": args.workers, "pages": len(sites),
                      "ok": len(ok), "metas": sum(ok), "seconds": seconds,
                      "cpu_seconds": cpu}))


if __name__ == "__main__":
    main()
