"""abreast.afetch: the same records as fetch, as an async iterator that never blocks the loop."""

from __future__ import annotations

import asyncio
import time

import pytest

import abreast
from abreast.testing import TestSite


def without_timing(record: dict) -> dict:
    record = dict(record)
    record.pop("elapsed_ms")
    return record


def test_afetch_gives_the_records_fetch_gives(site):
    urls = list(site.page_urls(100)) + ["not a url", site.url("/fault/status/503")]

    async def main():
        return [record async for record in abreast.afetch(urls, ordered=True, retries=0)]

    got = asyncio.run(main())
    expected = list(abreast.fetch(urls, ordered=True, retries=0))
    assert [without_timing(r) for r in got] == [without_timing(r) for r in expected]


def test_afetch_beside_a_ticking_coroutine():
    """A coroutine ticking every 10 ms keeps ticking all through a run of many pages."""

    async def main(site):
        ticks = []
        done = asyncio.Event()

        async def ticker():
            while not done.is_set():
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        ticking = asyncio.create_task(ticker())
        await asyncio.sleep(0.05)
        count = 0
        started = time.monotonic()
        async for record in abreast.afetch(site.page_urls(2000), jobs=100):
            assert record["ok"]
            count += 1
        ended = time.monotonic()
        done.set()
        await ticking
        during = [t for t in ticks if started <= t <= ended]
        gaps = [b - a for a, b in zip(ticks, ticks[1:])]
        return count, during, max(gaps), ended - started

    with TestSite(pages=2000, page_size=16 * 1024, latency=0.005) as site:
        count, during, worst_gap, took = asyncio.run(main(site))
    assert count == 2000
    # The loop ran all along: ticks kept coming during the run (about one per 10 ms)...
    assert len(during) >= took / 0.01 / 4
    # ... and none was held up for long (a hang catcher: a blocked loop would stall for the run).
    assert worst_gap < max(1.0, took / 2)


def test_afetch_stops_when_left_early():
    async def main(site):
        async with abreast.afetch(site.page_urls(5000), jobs=16) as records:
            async for record in records:
                assert record["ok"]
                break
        return site.requests

    with TestSite(pages=5000, page_size=2048, latency=0.05) as site:
        served = asyncio.run(main(site))
    assert served < 5000


def test_afetch_raises_the_iterables_exception(site):
    def failing():
        yield site.page_url(1)
        raise KeyError("gone")

    async def main():
        return [record async for record in abreast.afetch(failing())]

    with pytest.raises(KeyError, match="gone"):
        asyncio.run(main())


def test_afetch_summary(site):
    async def main():
        records = abreast.afetch(site.page_urls(10))
        got = [record async for record in records]
        return got, records.summary

    got, summary = asyncio.run(main())
    assert len(got) == 10 and summary["ok"] == 10
