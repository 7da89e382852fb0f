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
