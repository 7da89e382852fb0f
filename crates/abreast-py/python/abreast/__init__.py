"""abreast from Python: fetch many pages at once and extract their metadata.

The work is done by abreast's Rust engine with the GIL released, so a script, a notebook or an
asyncio service keeps running while pages are fetched and read::

    import abreast

    for record in abreast.fetch(urls):          # any iterable, read lazily
        print(record["url"], record["title"])   # records come as they complete

    async for record in abreast.afetch(urls):   # the same, for asyncio
        ...

    page = abreast.extract(html, url=url)       # one page's metadata
    for page in abreast.extract_many(pairs):    # many, in parallel on threads
        ...

A URL that fails is a record with ``ok`` False and an ``error`` saying why, never an exception.
Bad options raise ``TypeError`` or ``ValueError`` at the call. ``abreast.testing.TestSite`` is a
local test site for offline tests.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Iterable, Mapping, Optional, Tuple, Union

from . import _abreast, _options
from ._options import Seconds
from ._types import ErrorInfo, ErrorKind, Page, PageFields, Record

__all__ = [
    "fetch",
    "afetch",
    "extract",
    "extract_many",
    "Fetch",
    "AsyncFetch",
    "ExtractMany",
    "Record",
    "Page",
    "PageFields",
    "ErrorInfo",
    "ErrorKind",
    "FetchError",
    "__version__",
]

__version__: str = _abreast.__version__

Fetch = _abreast.FetchRun
"""The iterator :func:`fetch` returns (also a context manager; ``close()`` stops the run)."""

ExtractMany = _abreast.ExtractMany
"""The iterator :func:`extract_many` returns (``close()`` stops it)."""

FetchError = _abreast.FetchError
"""Raised when a run cannot start or its input cannot be read (never for a page that fails)."""

Headers = Union[Mapping[str, str], Iterable[Tuple[str, str]], None]
"""Extra request headers: a dict, or ``(name, value)`` pairs."""

Html = Union[bytes, bytearray, str]
"""A page: its body as ``bytes`` (the encoding is sniffed) or ``str`` (already decoded)."""


def _start(
    urls: Iterable[Union[str, bytes]],
    *,
    mode: str,
    jobs: Optional[int],
    per_host: int,
    rate: Optional[float],
    timeout: Seconds,
    connect_timeout: Seconds,
    retries: int,
    max_bytes: int,
    max_redirects: int,
    headers: Headers,
    head_only: bool,
    extract: bool,
    ordered: bool,
    insecure: bool,
    cacert: Optional[Union[str, os.PathLike]] = None,
    dns_servers: Optional[Iterable[str]] = None,
    http1_1: bool = False,
    user_agent: Optional[str] = None,
    robots: str = "ignore",
    broker: Optional[str] = None,
    job: Optional[str] = None,
    lease: Seconds = 60.0,
    max_deliveries: int = 3,
) -> Fetch:
    """Checks every option, then starts the run."""
    if _options.flag("head_only", head_only) and not _options.flag("extract", extract):
        raise ValueError(
            "head_only=True reads each page to the end of its head to extract it, and "
            "extract=False extracts nothing: pass one or the other"
        )
    open_web = dict(
        cacert=_options.cacert(cacert),
        dns_servers=_options.dns_servers(dns_servers),
        http1_1=_options.flag("http1_1", http1_1),
        user_agent=_options.user_agent(user_agent),
        robots=_options.robots(robots),
    )
    if broker is not None or job is not None:
        if not isinstance(broker, str) or not isinstance(job, str):
            raise TypeError(
                "broker= and job= go together, both str, e.g. "
                "broker=\"redis://127.0.0.1:6379\", job=\"crawl-1\""
            )
        if mode != "hybrid" or jobs is not None or ordered:
            raise ValueError(
                "mode, jobs and ordered are each worker's own with broker= (set them on "
                "`abreast worker`); records come as the workers finish them"
            )
        return _abreast.BrokerRun(
            _options.urls(urls),
            broker=broker,
            job=job,
            lease=_options.seconds("lease", lease, "60.0"),
            max_deliveries=_options.count("max_deliveries", max_deliveries, 3, 1, 1000),
            per_host=_options.count("per_host", per_host, 8, 1, 10_000),
            rate=_options.rate(rate),
            timeout=_options.seconds("timeout", timeout, "30.0"),
            connect_timeout=_options.seconds("connect_timeout", connect_timeout, "10.0"),
            retries=_options.count("retries", retries, 2, 0, _options.U32_MAX),
            max_bytes=_options.count("max_bytes", max_bytes, 10 * 2**20, 1, _options.U64_MAX),
            max_redirects=_options.count("max_redirects", max_redirects, 10, 0, _options.U32_MAX),
            headers=_options.headers(headers),
            head_only=_options.flag("head_only", head_only),
            extract=_options.flag("extract", extract),
            insecure=_options.flag("insecure", insecure),
            **open_web,
        )
    return _abreast.FetchRun(
        _options.urls(urls),
        mode=_options.mode(mode),
        jobs=_options.optional_count("jobs", jobs, 100, 1, 100_000),
        per_host=_options.count("per_host", per_host, 8, 1, 10_000),
        rate=_options.rate(rate),
        timeout=_options.seconds("timeout", timeout, "30.0"),
        connect_timeout=_options.seconds("connect_timeout", connect_timeout, "10.0"),
        retries=_options.count("retries", retries, 2, 0, _options.U32_MAX),
        max_bytes=_options.count("max_bytes", max_bytes, 10 * 2**20, 1, _options.U64_MAX),
        max_redirects=_options.count("max_redirects", max_redirects, 10, 0, _options.U32_MAX),
        headers=_options.headers(headers),
        head_only=_options.flag("head_only", head_only),
        extract=_options.flag("extract", extract),
        ordered=_options.flag("ordered", ordered),
        insecure=_options.flag("insecure", insecure),
        **open_web,
    )


def fetch(
    urls: Iterable[Union[str, bytes]],
    *,
    mode: str = "hybrid",
    jobs: Optional[int] = None,
    per_host: int = 8,
    rate: Optional[float] = None,
    timeout: Seconds = 30.0,
    connect_timeout: Seconds = 10.0,
    retries: int = 2,
    max_bytes: int = 10 * 2**20,
    max_redirects: int = 10,
    headers: Headers = None,
    head_only: bool = False,
    extract: bool = True,
    ordered: bool = False,
    insecure: bool = False,
    cacert: Optional[Union[str, os.PathLike]] = None,
    dns_servers: Optional[Iterable[str]] = None,
    http1_1: bool = False,
    user_agent: Optional[str] = None,
    robots: str = "ignore",
    broker: Optional[str] = None,
    job: Optional[str] = None,
    lease: Seconds = 60.0,
    max_deliveries: int = 3,
) -> Fetch:
    """Fetches every URL of ``urls`` at once and yields one record per URL as each completes.

    ``urls`` is any iterable of str (a list, a file, a generator of ten million URLs), or of
    bytes in any encoding (the lines of a file opened in binary: a Latin-1 line gets its own
    record, its raw bytes percent-encoded as browsers do): it is read lazily, a window ahead of
    the fetches, so memory stays flat. A generator, a file or any iterable other than a list,
    tuple, range, set or dict is read one URL at a time, each under way as soon as it is given:
    a generator may wait for the records of the URLs it gave. Each record is a dict with the
    fields of ``abreast fetch``'s JSON (see :class:`Record`); a URL that fails is a record with
    ``ok`` False and ``error`` ``{"kind", "message"}``, never an exception.

    The GIL is released while the run works and waits. Breaking out of the loop, ``close()``,
    or dropping the iterator stops the run and frees its threads; the iterable's call under way,
    if any, is interrupted as ``generator.close()`` would (``GeneratorExit`` at its next Python
    instruction) and waited for, so no thread of the run is left in it. Ctrl-C raises
    KeyboardInterrupt within a second and stops it too. If reading ``urls`` raises, or an item
    is not a str or bytes, the records of the URLs before it come first, then the exception is
    raised.

    Options (checked at the call; a bad one raises TypeError or ValueError):

    - ``mode``: ``"hybrid"`` (async I/O, extraction on threads), ``"threads"``, ``"async"`` or
      ``"processes"`` (each URL fetched and extracted in a worker process: this interpreter
      started again, loading only abreast's native module; a crash fails one URL).
    - ``jobs``: requests in flight at once (default: the mode's: 256 for hybrid and async, 64
      for threads, 4 per CPU for processes).
    - ``per_host``: requests in flight at once to one host.
    - ``rate``: request starts per second to one host (None: unlimited).
    - ``timeout``: seconds for one attempt, start to last byte; ``connect_timeout``: to connect.
      Numbers of seconds or ``datetime.timedelta``.
    - ``retries``: retries of connection errors, 429 and 5xx (with backoff).
    - ``max_bytes``: body bytes kept at most; longer pages are cut and marked ``truncated``.
    - ``max_redirects``: redirects followed at most.
    - ``headers``: extra request headers, a dict or ``(name, value)`` pairs.
    - ``head_only``: stop reading each page where its ``<head>`` ends.
    - ``extract``: False reads each body to its end (decoded, not kept) and gives records with
      the fetch's fields only (``status``, ``final_url``, ``bytes``, timing, errors), as a link
      check needs; the page fields stay empty.
    - ``ordered``: yield records in input order instead of as they complete.
    - ``insecure``: accept invalid TLS certificates.
    - ``cacert``: the path of a PEM file whose CA certificates are trusted beside the platform's
      (``abreast fetch --cacert``).
    - ``dns_servers``: name servers to ask instead of the system's, e.g. ``["127.0.0.1:5353"]``
      (``--dns-server``).
    - ``http1_1``: speak HTTP/1.1 only, no HTTP/2 (``--http1.1``).
    - ``user_agent``: the User-Agent (default ``abreast/VERSION (+HOME)``); its first word names
      abreast's group in robots.txt.
    - ``robots``: ``"ignore"`` (default) fetches every URL given; ``"obey"`` fetches each host's
      robots.txt first and gives the URLs it disallows a record of kind ``robots``.
    - ``broker``, ``job``: past one machine. The URLs are submitted as job ``job`` on the Redis
      at ``broker`` (``"redis://[:PASSWORD@]HOST:PORT[/DB]"``, ``rediss://`` for TLS), fetched by
      the ``abreast worker`` processes serving it (on any machines), and their records yielded
      as the workers finish them, while ``urls`` is still read (a generator's URLs go to the
      broker as it yields them): one per URL, the same records. The options above travel with
      the job, except ``mode``, ``jobs`` and ``ordered``, which are each worker's own (passing
      them raises ValueError). Submitting is idempotent: the same call again adds nothing and
      yields the records not yet collected, so a script that died resumes by calling again;
      other URLs or options under an existing name raise FetchError. A record leaves the broker
      once the iteration has moved past its batch. ``lease`` (seconds, default 60) is how long a
      worker may hold a URL without renewing it before another takes it; a URL whose workers
      keep dying gets a ``gave_up`` record after ``max_deliveries`` (default 3) deliveries. A
      bad ``broker`` or ``job`` raises ValueError; the password never appears in a message.

    Example::

        for record in abreast.fetch(open("urls.txt").read().split(), jobs=200):
            if record["ok"]:
                print(record["title"])
    """
    return _start(
        urls,
        mode=mode,
        jobs=jobs,
        per_host=per_host,
        rate=rate,
        timeout=timeout,
        connect_timeout=connect_timeout,
        retries=retries,
        max_bytes=max_bytes,
        max_redirects=max_redirects,
        headers=headers,
        head_only=head_only,
        extract=extract,
        ordered=ordered,
        insecure=insecure,
        cacert=cacert,
        dns_servers=dns_servers,
        http1_1=http1_1,
        user_agent=user_agent,
        robots=robots,
        broker=broker,
        job=job,
        lease=lease,
        max_deliveries=max_deliveries,
    )


class AsyncFetch:
    """The async iterator :func:`afetch` returns; also an async context manager.

    Waiting for records happens on an executor thread with the GIL released; the event loop
    only converts each record to a dict (microseconds), so it is never blocked.
    """

    __slots__ = ("_run", "_batch", "_wait")

    def __init__(self, run: Fetch, batch: int = 256, wait: float = 0.1) -> None:
        self._run = run
        self._batch = batch
        self._wait = wait

    def __aiter__(self) -> "AsyncFetch":
        return self

    async def __anext__(self) -> Record:
        run = self._run
        while True:
            record = run.pop()
            if record is not None:
                return record
            if run.finished():
                raise StopAsyncIteration
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, run.wait, self._batch, self._wait)

    async def aclose(self) -> None:
        """Stops the run and frees its threads (waits without blocking the event loop)."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._run.close)

    async def __aenter__(self) -> "AsyncFetch":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    @property
    def summary(self) -> dict:
        """The run's counts so far (see :attr:`Fetch.summary`)."""
        return self._run.summary

    def close(self) -> None:
        """Stops the run now, from synchronous code."""
        self._run.close()


def afetch(
    urls: Iterable[Union[str, bytes]],
    *,
    mode: str = "hybrid",
    jobs: Optional[int] = None,
    per_host: int = 8,
    rate: Optional[float] = None,
    timeout: Seconds = 30.0,
    connect_timeout: Seconds = 10.0,
    retries: int = 2,
    max_bytes: int = 10 * 2**20,
    max_redirects: int = 10,
    headers: Headers = None,
    head_only: bool = False,
    extract: bool = True,
    ordered: bool = False,
    insecure: bool = False,
    cacert: Optional[Union[str, os.PathLike]] = None,
    dns_servers: Optional[Iterable[str]] = None,
    http1_1: bool = False,
    user_agent: Optional[str] = None,
    robots: str = "ignore",
    broker: Optional[str] = None,
    job: Optional[str] = None,
    lease: Seconds = 60.0,
    max_deliveries: int = 3,
) -> AsyncFetch:
    """:func:`fetch` as an async iterator for asyncio; same options, same records.

    It never blocks the event loop: the run works on its own threads and records are collected
    on an executor thread with the GIL released. Leaving the loop early and dropping the
    iterator stops the run; ``async with abreast.afetch(urls) as records:`` or ``await
    records.aclose()`` stops it at once.

    Example::

        async for record in abreast.afetch(urls):
            print(record["url"], record["status"])
    """
    return AsyncFetch(
        _start(
            urls,
            mode=mode,
            jobs=jobs,
            per_host=per_host,
            rate=rate,
            timeout=timeout,
            connect_timeout=connect_timeout,
            retries=retries,
            max_bytes=max_bytes,
            max_redirects=max_redirects,
            headers=headers,
            head_only=head_only,
            extract=extract,
            ordered=ordered,
            insecure=insecure,
            cacert=cacert,
            dns_servers=dns_servers,
            http1_1=http1_1,
            user_agent=user_agent,
            robots=robots,
            broker=broker,
            job=job,
            lease=lease,
            max_deliveries=max_deliveries,
        )
    )


def extract(html: Html, *, url: Optional[str] = None, content_type: Optional[str] = None) -> Page:
    """Extracts one page's metadata: title, lang, canonical, description, every ``<meta>``,
    OpenGraph and Twitter cards, JSON-LD (parsed), icons, feeds, alternates, oEmbed, robots and
    a link ``preview`` (see :class:`Page`).

    ``html`` is the body as ``bytes`` (the encoding is chosen as a browser does: byte order
    mark, then ``content_type``'s charset, then ``<meta charset>``, then a guess) or as ``str``
    (already decoded; then ``content_type`` must be None). ``url`` is the page's address:
    relative URLs resolve against it (after any ``<base href>``), and it is returned as the
    dict's ``url``. The GIL is released while the page is read. Malformed input never raises:
    it gives what can be read, and ``truncated`` says if reading stopped early. The keys are
    those of a fetched record's page (``charset``, ``meta``, ``capped``…), with ``url`` and
    ``truncated`` beside them.

    Example::

        page = abreast.extract(b"<title>Hi</title>", url="https://example.com/")
        assert page["title"] == "Hi"
    """
    if url is not None and not isinstance(url, str):
        raise TypeError(f"url must be a str or None, e.g. url=\"https://example.com/\"; got {url!r}")
    if url is not None:
        _options.page_address(url)
    if content_type is not None and not isinstance(content_type, str):
        raise TypeError(
            f"content_type must be a str or None, e.g. content_type=\"text/html; charset=utf-8\"; got {content_type!r}"
        )
    return _abreast.extract(html, url=url, content_type=content_type)


def extract_many(
    pages: Iterable[Union[Html, Tuple[Html, Optional[str]], Tuple[Html, Optional[str], Optional[str]]]],
    *,
    workers: Optional[int] = None,
) -> ExtractMany:
    """Extracts many pages in parallel on abreast's thread pool, with the GIL released, and
    yields one :class:`Page` dict per item, in input order.

    ``pages`` is any iterable (read lazily, a few pages per worker ahead) of ``(html, url)``
    pairs, ``(html, url, content_type)`` triples, or bare ``html``. ``workers`` is the number
    of threads (default: one per CPU). An item that is not one of these raises TypeError in its
    turn, after the pages before it; then the iteration ends.

    Example::

        pairs = ((response.content, response.url) for response in responses)
        for page in abreast.extract_many(pairs, workers=4):
            print(page["url"], page["title"])
    """
    count = _options.workers(workers)
    return _abreast.ExtractMany(pages, count, 4 * count)
