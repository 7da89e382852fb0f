"""abreast.testing.TestSite."""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import timedelta

import pytest

from abreast.testing import TestSite


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_pages_and_counters():
    with TestSite(pages=10, page_size=4096) as site:
        assert site.base_url.startswith("http://127.0.0.1:")
        status, body = get(site.page_url(3))
        assert status == 200 and len(body) == 4096 and b"<title>Page 3</title>" in body
        assert get(site.page_url(10))[0] == 404
        assert get(site.url("/fault/status/418"))[0] == 418
        assert site.requests == 3
        assert site.route_counts()["page"] == 1
        assert list(site.page_urls()) == [site.page_url(n) for n in range(10)]


def test_latency_forms_and_close():
    for latency in (0.001, timedelta(milliseconds=1), (0.001, 0.002)):
        site = TestSite(pages=1, latency=latency)
        assert get(site.page_url(0))[0] == 200
        site.close()
        site.close()
        with pytest.raises(RuntimeError, match="closed"):
            site.requests


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(latency=-1), ValueError, "latency must be 0 or more"),
        (dict(latency="fast"), TypeError, "latency must be seconds"),
        (dict(latency=(0.2, 0.1)), ValueError, "low <= high"),
        (dict(latency=(0.1,)), ValueError, "takes two values"),
        (dict(pages=-1), ValueError, "pages must be at least 0"),
        (dict(page_size="big"), TypeError, "page_size must be an int"),
    ],
)
def test_bad_options(kwargs, error, message):
    with pytest.raises(error, match=message):
        TestSite(**kwargs)


def dns_query(address: tuple[str, int], name: str, qtype: int) -> tuple[int, list[bytes]]:
    """A minimal DNS query over UDP: returns the response code and each answer's RDATA."""
    import socket
    import struct

    question = b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"
    query = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + question + struct.pack(">HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(30)
        sock.sendto(query, address)
        reply, _ = sock.recvfrom(1500)
    ident, flags, _, answers, _, _ = struct.unpack(">HHHHHH", reply[:12])
    assert ident == 0x1234
    offset = 12 + len(question) + 4
    rdatas = []
    for _ in range(answers):
        if reply[offset] & 0xC0 == 0xC0:
            offset += 2
        else:
            while reply[offset]:
                offset += reply[offset] + 1
            offset += 1
        _, _, _, length = struct.unpack(">HHIH", reply[offset : offset + 10])
        rdatas.append(reply[offset + 10 : offset + 10 + length])
        offset += 10 + length
    return flags & 0xF, rdatas


def test_tls_and_dns():
    import http.client
    import os
    import socket
    import ssl

    with TestSite(pages=10, page_size=4096, tls=True, dns=True) as site:
        assert site.https_base_url == f"https://site.test:{site.port}"
        assert site.ca_pem.startswith("-----BEGIN CERTIFICATE-----")
        assert site.https_url("/page/3", host="h17") == f"https://h17.site.test:{site.port}/page/3"
        host, port = site.dns_address
        assert host == "127.0.0.1" and port > 0

        # The names resolve through the site's name server; others do not exist.
        assert dns_query(site.dns_address, "h17.site.test", 1) == (0, [bytes([127, 0, 0, 1])])
        assert dns_query(site.dns_address, "h17.site.test", 28) == (0, [bytes(15) + b"\1"])
        assert dns_query(site.dns_address, "h17.example.invalid", 1) == (3, [])
        assert site.dns_queries()[("h17.site.test", "A")] == 1

        # HTTPS for h17.site.test, trusting the site's CA (connecting to 127.0.0.1 directly).
        context = ssl.create_default_context(cafile=site.ca_file)
        context.set_alpn_protocols(["http/1.1"])
        connection = http.client.HTTPSConnection("127.0.0.1", site.port, context=context, timeout=30)
        connection.sock = context.wrap_socket(
            socket.create_connection(("127.0.0.1", site.port)),
            server_hostname="h17.site.test",
        )
        for _ in range(2):
            connection.request("GET", "/page/3", headers={"Host": f"h17.site.test:{site.port}"})
            response = connection.getresponse()
            body = response.read()
            assert response.status == 200 and len(body) == 4096 and b"<title>Page 3</title>" in body
        connection.close()
        assert site.tls_connections() == {"h17.site.test": 1}

        h2 = ssl.create_default_context(cafile=site.ca_file)
        h2.set_alpn_protocols(["h2", "http/1.1"])
        with h2.wrap_socket(
            socket.create_connection(("127.0.0.1", site.port)),
            server_hostname="h18.site.test",
        ) as sock:
            assert sock.selected_alpn_protocol() == "h2"
        ca_file = site.ca_file
    assert not os.path.exists(ca_file)


def test_plain_site_has_no_tls_or_dns():
    with TestSite(pages=1) as site:
        assert site.https_base_url is None and site.ca_pem is None and site.dns_address is None
        with pytest.raises(RuntimeError, match="tls=True"):
            site.ca_file
        with pytest.raises(RuntimeError, match="tls=True"):
            site.https_url("/")
    with pytest.raises(RuntimeError, match="invalid domain"):
        TestSite(pages=1, domain="a b")
    with pytest.raises(TypeError, match="tls must be True or False"):
        TestSite(pages=1, tls="yes")
