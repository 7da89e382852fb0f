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
"""

from __future__ import annotations

import math
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
    ) -> None:
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
        )
        self.pages = pages
        self.base_url: str = self._site.base_url
        """``http://127.0.0.1:PORT``, with no trailing slash."""

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

    def close(self) -> None:
        """Stops the site; closing twice is harmless."""
        self._site.close()

    def __enter__(self) -> "TestSite":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TestSite({self.base_url!r}, pages={self.pages})"
