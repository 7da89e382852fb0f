"""Offline testing: abreast's test web site on 127.0.0.1, as a context manager.

The site serves deterministic pages at ``/page/N`` (valid HTML5 of exactly ``page_size``
bytes, with a title ``Page N``, a description, OpenGraph and Twitter tags and a canonical link)
and fault routes under ``/fault/`` that misbehave on purpose (stalls, resets, redirect loops,
compression bombs, legacy encodings, flaky 503s...). See ``abreast serve --help`` or the
abreast-site crate's docs for the full list::

    from abreast.testing import TestSite

    with TestSite(pages=100, latency=0.05) as site:
        records = list(abreast.fetch(site.page_urls(100)))
        assert all(record["ok"] for record in records)

With ``tls=True`` the same port also serves HTTPS for any host name, with certificates signed by
a CA the site makes (``site.ca_pem``, or ``site.ca_file`` for a path); with ``dns=True`` a name
server at ``site.dns_address`` resolves ``domain`` (``site.test``) and every name under it to the
loopback address, so a client meets many hosts, TLS and DNS without the network::

    with TestSite(pages=10, tls=True, dns=True) as site:
        url = site.https_url("/page/3", host="h17")  # https://h17.site.test:PORT/page/3
"""

from __future__ import annotations

import math
import os
import tempfile
from datetime import timedelta
from typing import Any, Dict, Iterator, Optional, Tuple, Union

from . import _abreast

__all__ = ["TestSite"]

Latency = Union[float, int, timedelta, Tuple[Union[float, timedelta], Union[float, timedelta]]]
"""A wait before each response: seconds, a timedelta, or ``(low, high)`` drawn uniformly."""


def _latency_seconds(value: Any) -> float:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            "latency must be seconds (a number or timedelta) or a (low, high) pair, e.g. latency=0.05 "
            f"or latency=(0.02, 0.08); got {value!r}"
        )
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"latency must be 0 or more seconds, e.g. latency=0.05; got {value!r}")
    return float(value)


def _check_count(name: str, value: Any, example: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, e.g. {name}={example}; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, e.g. {name}={example}; got {value}")
    return value


class TestSite:
    """abreast's test web site, started on 127.0.0.1 when made and stopped by ``close()`` or
    at the end of a ``with`` block.

    - ``pages``: how many pages; ``/page/N`` exists for N below this (others are 404).
    - ``latency``: the wait before each response: seconds (``0.05``), a ``timedelta``, or a
      ``(low, high)`` pair drawn uniformly per request.
    - ``page_size``: the exact size of each page in bytes (64 KiB by default).
    - ``seed``: the seed of every deterministic choice (page topics, latency draws).
    - ``port``: the port, 0 for any free one.
    - ``tls``: serve HTTPS too, on the same port, for any host name (certificates from a CA made
      at start: ``ca_pem``, ``ca_file``; ALPN offers h2 and http/1.1).
    - ``dns``: run a name server (``dns_address``) that answers A ``127.0.0.1`` and AAAA ``::1``
      for ``domain`` and every name under it, and NXDOMAIN for other names.
    - ``domain``: the domain of the site's names, ``site.test`` by default.
    """

    __test__ = False  # not a pytest test class, despite its name

    def __init__(
        self,
        pages: int = 1000,
        latency: Latency = 0.0,
        *,
        page_size: int = 64 * 1024,
        seed: int = 0,
        port: int = 0,
        tls: bool = False,
        dns: bool = False,
        domain: str = "site.test",
    ) -> None:
        for name, flag in (("tls", tls), ("dns", dns)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be True or False, e.g. {name}=True; got {flag!r}")
        if not isinstance(domain, str):
            raise TypeError(f"domain must be a str, e.g. domain='site.test'; got {domain!r}")
        if isinstance(latency, tuple):
            if len(latency) != 2:
                raise ValueError(f"latency=(low, high) takes two values, e.g. latency=(0.02, 0.08); got {latency!r}")
            low, high = (_latency_seconds(bound) for bound in latency)
        else:
            low = high = _latency_seconds(latency)
        self._site = _abreast.TestSite(
            _check_count("pages", pages, 1000, 0),
            _check_count("page_size", page_size, 65536, 0),
            low,
            high,
            _check_count("seed", seed, 0, 0),
            _check_count("port", port, 0, 0),
            tls,
            dns,
            domain,
        )
        self.pages = pages
        self.base_url: str = self._site.base_url
        """``http://127.0.0.1:PORT``, with no trailing slash."""
        self.port: int = int(self.base_url.rsplit(":", 1)[1])
        """The port of both HTTP and HTTPS."""
        self.domain: str = self._site.domain
        """The domain of the site's names, lowercased: ``site.test`` by default."""
        self.https_base_url: Optional[str] = self._site.https_base_url
        """With ``tls``: ``https://site.test:PORT``, with no trailing slash; else ``None``."""
        self.ca_pem: Optional[str] = self._site.ca_pem
        """With ``tls``: the PEM of the CA that signs the site's certificates; else ``None``."""
        self.dns_address: Optional[Tuple[str, int]] = self._site.dns_address
        """With ``dns``: the name server's ``(host, port)``, UDP and TCP; else ``None``."""
        self._ca_file: Optional[str] = None

    @property
    def ca_file(self) -> str:
        """With ``tls``: the path of a file holding ``ca_pem`` (made on first use, removed by
        ``close()``), for ``ssl.create_default_context(cafile=...)`` or ``curl --cacert``."""
        if self.ca_pem is None:
            raise RuntimeError("this TestSite has no CA; start it with TestSite(tls=True)")
        if self._ca_file is None:
            descriptor, path = tempfile.mkstemp(prefix="abreast-site-ca-", suffix=".pem")
            with os.fdopen(descriptor, "w") as file:
                file.write(self.ca_pem)
            self._ca_file = path
        return self._ca_file

    def https_url(self, path: str = "/", host: Optional[str] = None) -> str:
        """The HTTPS URL of ``path``, on ``host`` under the domain when given:
        ``site.https_url("/page/3", host="h17")`` is ``https://h17.site.test:PORT/page/3``."""
        if self.https_base_url is None:
            raise RuntimeError("this TestSite serves no HTTPS; start it with TestSite(tls=True)")
        if not path.startswith("/"):
            path = "/" + path
        name = self.domain if host is None else f"{host}.{self.domain}"
        return f"https://{name}:{self.port}{path}"

    def url(self, path: str) -> str:
        """The full URL of ``path`` on this site, e.g. ``site.url("/fault/status/503")``."""
        if not path.startswith("/"):
            path = "/" + path
        return self.base_url + path

    def page_url(self, n: int) -> str:
        """The URL of page ``n``."""
        return f"{self.base_url}/page/{n}"

    def page_urls(self, count: Optional[int] = None) -> Iterator[str]:
        """The URLs of pages 0 to ``count - 1`` (default: all pages), lazily."""
        total = self.pages if count is None else count
        return (f"{self.base_url}/page/{n}" for n in range(total))

    @property
    def requests(self) -> int:
        """Requests served so far."""
        return self._site.requests()

    @property
    def connections(self) -> int:
        """Connections accepted so far."""
        return self._site.connections()

    def route_counts(self) -> Dict[str, int]:
        """Requests served so far per route (``"page"``, ``"stall"``, ``"flaky"``...)."""
        return self._site.route_counts()

    def flaky_attempts(self, key: str) -> int:
        """How many requests ``/fault/flaky/KEY`` has seen for ``key``."""
        return self._site.flaky_attempts(key)

    def tls_connections(self) -> Dict[str, int]:
        """HTTPS connections (completed handshakes) so far per SNI host name (``""``: none)."""
        return self._site.tls_connections()

    def dns_queries(self) -> Dict[Tuple[str, str], int]:
        """DNS queries so far per ``(name, type)``, e.g. ``{("h1.site.test", "A"): 1}``."""
        return self._site.dns_queries()

    def close(self) -> None:
        """Stops the site and removes ``ca_file``; closing twice is harmless."""
        self._site.close()
        if self._ca_file is not None:
            try:
                os.remove(self._ca_file)
            except FileNotFoundError:
                pass
            self._ca_file = None

    def __enter__(self) -> "TestSite":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TestSite({self.base_url!r}, pages={self.pages})"
