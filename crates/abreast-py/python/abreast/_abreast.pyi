"""Type stubs of abreast's native module. Import ``abreast``, not this module."""

from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from ._types import Page, Record

__version__: str
BUILD_PROFILE: str  # "release", or "debug" for a `maturin develop` build

class FetchError(RuntimeError):
    """A fetch run could not start or could not read its input (never raised for a page that fails)."""

def extract(html: Union[bytes, bytearray, str], *, url: Optional[str] = None, content_type: Optional[str] = None) -> Page:
    """Extracts one page's metadata, with the GIL released."""

class ExtractMany(Iterator[Page]):
    """Pages extracted on a thread pool, yielded in input order."""

    def __init__(self, pages: Iterable[Any], workers: int, ahead: int) -> None: ...
    def __iter__(self) -> "ExtractMany": ...
    def __next__(self) -> Page: ...
    def close(self) -> None:
        """Stops the iteration now: no more items are read and the threads are freed."""

class BrokerRun(Iterator[Record]):
    """A job on a broker being collected: records as the workers finish them; also a context
    manager (``close()`` stops collecting; what was not taken stays on the broker)."""

    def __init__(
        self,
        urls: Iterable[Union[str, bytes]],
        *,
        broker: str,
        job: str,
        lease: float,
        max_deliveries: int,
        per_host: int,
        rate: Optional[float],
        timeout: float,
        connect_timeout: float,
        retries: int,
        max_bytes: int,
        max_redirects: int,
        headers: List[Tuple[str, str]],
        head_only: bool,
        extract: bool,
        insecure: bool,
        cacert: Optional[bytes],
        dns_servers: List[str],
        http1_1: bool,
        user_agent: Optional[str],
        robots: str,
    ) -> None: ...
    def __iter__(self) -> "BrokerRun": ...
    def __next__(self) -> Record: ...
    def wait(self, max: int = 256, timeout: float = 0.1) -> None:
        """Waits (GIL released) for the next batch for :meth:`pop` (used by afetch)."""
    def pop(self) -> Optional[Record]:
        """The next record already waited for, or None."""
    def finished(self) -> bool:
        """True once every record was delivered; raises the job's error, if any."""
    def close(self) -> None:
        """Stops collecting; records not yet taken stay on the broker."""
    @property
    def summary(self) -> Optional[dict]:
        """The counts of the records handed out so far."""
    def __enter__(self) -> "BrokerRun": ...
    def __exit__(self, *exc_info: object) -> None: ...

class FetchRun(Iterator[Record]):
    """A fetch run: records as they complete; also a context manager."""

    def __init__(
        self,
        urls: Iterable[Union[str, bytes]],
        *,
        mode: str,
        jobs: Optional[int],
        per_host: int,
        rate: Optional[float],
        timeout: float,
        connect_timeout: float,
        retries: int,
        max_bytes: int,
        max_redirects: int,
        headers: List[Tuple[str, str]],
        head_only: bool,
        extract: bool,
        ordered: bool,
        insecure: bool,
        cacert: Optional[bytes],
        dns_servers: List[str],
        http1_1: bool,
        user_agent: Optional[str],
        robots: str,
    ) -> None: ...
    def __iter__(self) -> "FetchRun": ...
    def __next__(self) -> Record: ...
    def wait(self, max: int = 256, timeout: float = 0.1) -> None:
        """Waits (GIL released) for up to ``max`` records for :meth:`pop` (used by afetch)."""
    def pop(self) -> Optional[Record]:
        """The next record already waited for, or None."""
    def finished(self) -> bool:
        """True once every record was delivered; raises the run's error, if any."""
    def close(self) -> None:
        """Stops the run now and frees its threads."""
    @property
    def summary(self) -> Optional[Dict[str, Any]]:
        """The run's counts once it ended (records, ok, failed by kind, bytes, seconds...)."""
    def __enter__(self) -> "FetchRun": ...
    def __exit__(self, *exc_info: Any) -> None: ...

class TestSite:
    """The native test site; use :class:`abreast.testing.TestSite`."""

    def __init__(
        self,
        pages: int,
        page_size: int,
        latency_low: float,
        latency_high: float,
        seed: int,
        port: int,
        tls: bool = False,
        dns: bool = False,
        domain: str = "site.test",
    ) -> None: ...
    @property
    def base_url(self) -> str: ...
    @property
    def https_base_url(self) -> Optional[str]: ...
    @property
    def ca_pem(self) -> Optional[str]: ...
    @property
    def dns_address(self) -> Optional[Tuple[str, int]]: ...
    @property
    def domain(self) -> str: ...
    def tls_connections(self) -> Dict[str, int]: ...
    def dns_queries(self) -> Dict[Tuple[str, str], int]: ...
    def requests(self) -> int: ...
    def connections(self) -> int: ...
    def route_counts(self) -> Dict[str, int]: ...
    def flaky_attempts(self, key: str) -> int: ...
    def close(self) -> None: ...
