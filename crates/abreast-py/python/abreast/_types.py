"""The shapes of abreast's results, as TypedDicts for type checkers.

At run time every result is a plain ``dict``; these classes only describe its keys. A key that
a later version of abreast adds appears in the dicts before it appears here.
"""

from __future__ import annotations

from typing import Any, Dict, List, Literal, Optional, TypedDict, Union

__all__ = [
    "ErrorInfo",
    "Record",
    "Page",
    "PageFields",
    "ErrorKind",
    "Card",
    "Icon",
    "Feed",
    "Alternates",
    "LanguageAlternate",
    "OEmbed",
    "Preview",
    "JsonLdError",
]

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
    "robots",
    "read",
    "internal",
    "gave_up",
]
"""What went wrong with a URL: ``record["error"]["kind"]``."""


class ErrorInfo(TypedDict):
    """Why a URL failed: a kind to branch on and a message for people."""

    kind: ErrorKind
    message: str


Card = Dict[str, Union[List[str], List[Dict[str, str]]]]
"""OpenGraph or Twitter card: each key (prefix dropped) to its values in document order; the
media kinds (``image``, ``video``, ``audio``; ``player``) to lists of items, each a dict of its
structured properties (``url``, ``width``, ``alt``…), URLs absolute."""


class _IconRequired(TypedDict):
    href: str
    rel: str


class Icon(_IconRequired, total=False):
    """An icon or web-app manifest link; absent attributes are left out."""

    sizes: str
    type: str
    color: str


class _LinkRequired(TypedDict):
    href: str
    type: str


class Feed(_LinkRequired, total=False):
    """An RSS, Atom or JSON Feed alternate."""

    title: str


class OEmbed(_LinkRequired, total=False):
    """An oEmbed discovery link."""

    title: str


class LanguageAlternate(TypedDict):
    """A ``hreflang`` alternate."""

    hreflang: str
    href: str


class Alternates(TypedDict):
    """Language alternates and the AMP version."""

    languages: List[LanguageAlternate]
    amp: Optional[str]


class JsonLdError(TypedDict):
    """A JSON-LD block left out: its position among the page's blocks, and why."""

    block: int
    reason: str


Preview = TypedDict(
    "Preview",
    {
        "title": Optional[str],
        "description": Optional[str],
        "image": Optional[str],
        "url": Optional[str],
        "site_name": Optional[str],
        "type": Optional[str],
        "author": Optional[str],
        "published": Optional[str],
        "modified": Optional[str],
        "lang": Optional[str],
        "locale": Optional[str],
        "icon": Optional[str],
    },
)
"""One object for a link preview: each field the first found along its chain of sources (see
the README), URLs absolute, dates RFC 3339 where they parse."""


class PageFields(TypedDict):
    """What a page says about itself: the keys every abreast record shares, with the same
    meaning in :func:`abreast.fetch`, :func:`abreast.afetch`, :func:`abreast.extract`,
    :func:`abreast.extract_many` and the command line's ``abreast fetch`` and ``abreast extract``
    (the README's field table describes each). ``charset`` is None where no page was read."""

    charset: Optional[str]
    """The encoding the page was decoded with (``"UTF-8"``, ``"Shift_JIS"``), as a browser
    chooses it."""
    title: Optional[str]
    lang: Optional[str]
    canonical: Optional[str]
    description: Optional[str]
    meta: List[Dict[str, str]]
    """Every ``<meta>`` element's attributes, in document order."""
    og: Card
    """OpenGraph ``og:*`` properties (see :data:`Card`)."""
    twitter: Card
    """Twitter card ``twitter:*`` properties (see :data:`Card`)."""
    json_ld: List[Any]
    """Every ``<script type="application/ld+json">`` block, parsed."""
    json_ld_errors: List[JsonLdError]
    """The JSON-LD blocks that did not parse, and why."""
    icons: List[Icon]
    feeds: List[Feed]
    alternates: Alternates
    oembed: List[OEmbed]
    robots: List[str]
    """The directives of ``<meta name=robots>``."""
    preview: Preview
    capped: List[str]
    """The fields that lost entries to a cap; empty when nothing was cut."""


class Record(PageFields):
    """One URL's result from :func:`abreast.fetch`, with the fields of ``abreast fetch``'s JSON:
    the page's fields (:class:`PageFields`) and the fetch's own.

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
    http_version: Optional[str]
    """The HTTP version of the final response (``"HTTP/1.1"``, ``"HTTP/2"``), if one came."""


class Page(PageFields):
    """One page's metadata from :func:`abreast.extract` and :func:`abreast.extract_many`: the
    page's fields (:class:`PageFields`), its ``url`` and whether reading stopped early."""

    url: Optional[str]
    """The page's URL as given to ``extract`` (``url=``) or ``extract_many`` (the pair's second)."""
    truncated: bool
    """True if reading stopped before the end of the page (a size or memory limit)."""
