"""Fetch pages with coroutines, as the explainer's asyncio version does.

One aiohttp.ClientSession is shared by one coroutine per URL, all run at once with
asyncio.gather; the session's connector allows at most --workers connections at a time. Every
page's <meta> tags are found with the regex <meta .*?>. Prints one JSON line: program, workers,
pages, ok, metas, seconds, cpu_seconds.

For HTTPS on the test site's many names (abreast bench fetch --tls), --cafile trusts the site's
CA (an ssl context made with it) and --dns-server IP:PORT resolves names through the site's name
server (a resolver of a few lines written here with the standard library, asking for A records
only: the site listens on 127.0.0.1). aiohttp's connector caches the answers as it does by
default (10 seconds).

Usage: async_fetch.py URLS_FILE [--workers N] [--cafile FILE] [--dns-server IP:PORT]
"""

import argparse
import asyncio
import json
import random
import re
import resource
import socket
import ssl
import struct
import time

import aiohttp
import aiohttp.abc

META = re.compile(rb"<meta .*?>")


async def download_site(session, url):
    """Returns the number of <meta> tags on the page; raises when the fetch failed."""
    async with session.get(url, raise_for_status=True) as response:
        return len(META.findall(await response.read()))


class DnsServerResolver(aiohttp.abc.AbstractResolver):
    """Resolves names with A queries over UDP to one name server (the test site's)."""

    def __init__(self, server):
        host, port = server.rsplit(":", 1)
        self.server = (host, int(port))

    async def resolve(self, host, port=0, family=socket.AF_INET):
        loop = asyncio.get_running_loop()
        ident = random.randrange(1 << 16)
        name = b"".join(bytes([len(label)]) + label.encode("ascii") for label in host.split("."))
        query = struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0) + name + b"\0\0\1\0\1"
        answer = loop.create_future()

        class Protocol(asyncio.DatagramProtocol):
            def datagram_received(self, data, addr):
                if not answer.done() and data[:2] == query[:2]:
                    answer.set_result(data)

            def error_received(self, exc):
                if not answer.done():
                    answer.set_exception(exc)

        transport, _ = await loop.create_datagram_endpoint(Protocol, remote_addr=self.server)
        try:
            transport.sendto(query)
            reply = await asyncio.wait_for(answer, 30)
        finally:
            transport.close()
        code, answers = reply[3] & 0xF, struct.unpack(">H", reply[6:8])[0]
        if code != 0 or answers == 0:
            raise OSError(f"{host}: the name server answered code {code} with no address")
        offset, addresses = len(query), []
        for _ in range(answers):
            offset += 2 if reply[offset] & 0xC0 == 0xC0 else reply.index(b"\0", offset) + 1 - offset
            kind, _, _, length = struct.unpack(">HHIH", reply[offset:offset + 10])
            if kind == 1 and length == 4:
                addresses.append(socket.inet_ntoa(reply[offset + 10:offset + 14]))
            offset += 10 + length
        return [{"hostname": host, "host": address, "port": port, "family": socket.AF_INET,
                 "proto": 0, "flags": socket.AI_NUMERICHOST} for address in addresses]

    async def close(self):
        pass


async def download_all_sites(sites, workers, cafile=None, dns_server=None):
    options = {}
    if cafile:
        options["ssl"] = ssl.create_default_context(cafile=cafile)
    if dns_server:
        options["resolver"] = DnsServerResolver(dns_server)
    connector = aiohttp.TCPConnector(limit=workers, **options)
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
    parser.add_argument("--cafile", help="trust this CA's PEM for HTTPS")
    parser.add_argument("--dns-server", help="resolve names through this name server, IP:PORT")
    args = parser.parse_args()
    with open(args.urls_file) as lines:
        sites = [line.strip() for line in lines if line.strip()]
    cpu_start = cpu_seconds()
    start = time.perf_counter()
    results = asyncio.run(download_all_sites(sites, args.workers, args.cafile, args.dns_server))
    seconds = time.perf_counter() - start
    cpu = cpu_seconds() - cpu_start
    ok = [count for count in results if isinstance(count, int)]
    print(json.dumps({"program": "async_fetch", "workers": args.workers, "pages": len(sites),
                      "ok": len(ok), "metas": sum(ok), "seconds": seconds,
                      "cpu_seconds": cpu}))


if __name__ == "__main__":
    main()
