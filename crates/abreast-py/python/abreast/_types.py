"""The shapes of abreast's results, as TypedDicts for type checkers.

At run time every result is a plain ``dict``; these classes only describe its keys. A key that
a later version of abreast adds appears in the dicts before it appears here.
"""

from __future__ import annotations

from typing import Dict, List, Literal, Optional, TypedDict

__all__ = ["ErrorInfo", "Record", "Page", "ErrorKind"]

ErrorKind = Literal[
    "invalid_url",
    "unsupported_scheme",
    "dns",
    "connect",
    "tls",
    "timeout",
    "redirect",
    "status",
    "body",
    "decode",
    "http",
]
"""What went wrong with a URL: ``record["error"]["kind"]``."""


class ErrorInfo(TypedDict):
    """Why a URL failed: a kind to branch on and a message for people."""

    kind: ErrorKind
    message: str


class Record(TypedDict):
    """One URL's result from :func:`abreast.fetch`, with the fields of ``abreast fetch``'s JSON.

    ``ok`` is True for a 2xx page that was read; otherwise ``error`` says why not. A page that
    fails is a record like any other, never an exception.
    """

    url: str
    """The URL as it was given."""
    final_url: Optional[str]
    """The URL after redirects."""
    status: Optional[int]
    """The HTTP status of the last response, if one came."""
    ok: bool
    """True for a 2xx page that was read to its end (or to ``max_bytes``)."""
    error: Optional[ErrorInfo]
    """Why the URL failed, or None."""
    elapsed_ms: int
    """Milliseconds from the first attempt's start to the record."""
    attempts: int
    """Requests made (1 plus the retries)."""
    bytes: int
    """Body bytes read (decoded)."""
    truncated: bool
    """True if the body was longer than ``max_bytes`` (or ``head_only`` stopped early)."""
    content_type: Optional[str]
    """The Content-Type header."""
    charset: Optional[str]
    """The encoding the page was decoded with (``"UTF-8"``, ``"Shift_JIS"``)."""
    title: Optional[str]
    lang: Optional[str]
    canonical: Optional[str]
    description: Optional[str]
    meta: List[Dict[str, str]]
    """Every ``<meta>`` element's attributes, in document order."""
    og: Dict[str, str]
    """OpenGraph ``og:*`` properties."""
    twitter: Dict[str, str]
    """Twitter card ``twitter:*`` names."""


class Page(TypedDict):
    """One page's metadata from :func:`abreast.extract` and :func:`abreast.extract_many`."""

    url: Optional[str]
    """The page's URL as given to ``extract`` (``url=``) or ``extract_many`` (the pair's second)."""
    encoding: str
    """The encoding the page was decoded with, as the Encoding Standard names it."""
    encoding_source: Literal["bom", "content_type", "meta_prescan", "statistical", "default"]
    """Which step of the HTML Standard's sniffing chose the encoding."""
    title: Optional[str]
    lang: Optional[str]
    canonical: Optional[str]
    description: Optional[str]
    metas: List[Dict[str, str]]
    """Every ``<meta>`` element's attributes, in document order."""
    og: Dict[str, str]
    twitter: Dict[str, str]
    json_ld: List[str]
    """The raw text of each ``<script type="application/ld+json">``."""
    end: Literal["complete", "head_end", "byte_limit", "memory_limit"]
    """Whether the whole page was read, or which limit stopped reading."""
