"""Checks of the options of abreast's calls, made at the call.

Each check raises TypeError (wrong type) or ValueError (wrong value) whose message names the
option, says what was given, and shows a good value.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any, List, Optional, Tuple, Union

Seconds = Union[float, int, timedelta]
"""A duration: seconds as a number, or a ``datetime.timedelta``."""

MODES = ("hybrid", "threads", "async", "processes")
"""The modes ``fetch`` runs from Python."""

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def _type_name(value: Any) -> str:
    return type(value).__name__


def seconds(name: str, value: Any, example: str) -> float:
    """A positive, finite duration in seconds, from a number or a timedelta."""
    if isinstance(value, timedelta):
        result = value.total_seconds()
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{name} must be seconds as a number or a datetime.timedelta, e.g. {name}={example}; "
            f"got {value!r} ({_type_name(value)})"
        )
    else:
        result = float(value)
    if not math.isfinite(result) or result <= 0:
        raise ValueError(f"{name} must be more than 0 seconds, e.g. {name}={example}; got {value!r}")
    return result


U32_MAX = 2**32 - 1
"""The largest count the engine takes for retries and redirects (the CLI's bound)."""

U64_MAX = 2**64 - 1
"""The largest byte count the engine takes."""


def count(name: str, value: Any, example: int, minimum: int, maximum: int) -> int:
    """An int from ``minimum`` to ``maximum`` (a bool is refused); the CLI's bounds."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, e.g. {name}={example}; got {value!r} ({_type_name(value)})")
    if not minimum <= value <= maximum:
        raise ValueError(f"{name} must be from {minimum} to {maximum}, e.g. {name}={example}; got {value}")
    return value


def optional_count(name: str, value: Any, example: int, minimum: int, maximum: int) -> Optional[int]:
    """None, or an int from ``minimum`` to ``maximum``."""
    return None if value is None else count(name, value, example, minimum, maximum)


def flag(name: str, value: Any) -> bool:
    """A bool (True or False only: a truthy string is a mistake, not a yes)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, e.g. {name}=True; got {value!r} ({_type_name(value)})")
    return value


def mode(value: Any) -> str:
    """One of :data:`MODES`."""
    if not isinstance(value, str):
        raise TypeError(f"mode must be a str, e.g. mode=\"hybrid\"; got {value!r} ({_type_name(value)})")
    if value not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, e.g. mode=\"hybrid\"; got {value!r}")
    return value


SLOWEST_RATE = 1e-6
"""The slowest rate the engine takes (abreast_fetch::SLOWEST_RATE): its wait must fit a clock."""


def rate(value: Any) -> Optional[float]:
    """None, or request starts per second per host (> 0)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"rate must be requests per second as a number, e.g. rate=5.0; got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"rate must be more than 0 requests per second, e.g. rate=5.0; got {value!r}")
    if value < SLOWEST_RATE:
        raise ValueError(
            f"rate must be at least {SLOWEST_RATE} (one request every 11.6 days), e.g. rate=0.5; got {value!r}"
        )
    return float(value)


def headers(value: Any) -> List[Tuple[str, str]]:
    """Extra request headers: None, a mapping, or an iterable of ``(name, value)`` pairs."""
    example = "headers={\"User-Agent\": \"my-crawler/1.0\"}"
    if value is None:
        return []
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"headers must be a dict or (name, value) pairs, e.g. {example}; got {value!r}")
    else:
        pairs = []
        for pair in value:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise TypeError(f"headers must hold (name, value) pairs, e.g. {example}; got {pair!r}")
            pairs.append(pair)
    result = []
    for header, text in pairs:
        if not isinstance(header, str) or not isinstance(text, str):
            raise TypeError(f"headers: names and values must be str, e.g. {example}; got {header!r}: {text!r}")
        if not _TOKEN.match(header):
            raise ValueError(f"headers: {header!r} is not a valid header name, e.g. {example}")
        if any(c in text for c in "\r\n\0"):
            raise ValueError(f"headers: the value of {header!r} holds a line break or NUL; e.g. {example}")
        if header.lower() == "user-agent" and not text.strip():
            raise ValueError(f"headers: the User-Agent is blank: give one, e.g. {example}, or leave it out for abreast's own")
        result.append((header, text))
    return result


def urls(value: Any) -> Any:
    """Any iterable of URLs except a lone str or bytes (which would be read character by character)."""
    if isinstance(value, (str, bytes, bytearray)):
        raise TypeError(
            "urls must be an iterable of URLs, e.g. urls=[\"https://example.com/\"]; got a single "
            f"{_type_name(value)}: wrap it in a list"
        )
    if not isinstance(value, Iterable):
        raise TypeError(
            f"urls must be an iterable of URLs (a list, a generator, a file), e.g. "
            f"urls=[\"https://example.com/\"]; got {value!r} ({_type_name(value)})"
        )
    return value


def workers(value: Any) -> int:
    """Worker threads for extract_many: None (one per CPU) or an int >= 1."""
    if value is None:
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
    return count("workers", value, 4, 1, 4096)


def cacert(value: Any) -> Optional[bytes]:
    """None, or the path of a PEM file of CA certificates, read here."""
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"cacert must be the path of a PEM file, e.g. cacert=\"ca.pem\"; got {value!r} ({_type_name(value)})")
    try:
        with open(value, "rb") as file:
            return file.read()
    except OSError as error:
        raise ValueError(f"cacert: could not read {value!r}: {error.strerror or error}") from error


def dns_servers(value: Any) -> List[str]:
    """None, or name server addresses (``"IP"``, ``"IP:PORT"`` or ``(IP, PORT)`` as a socket
    address, such as ``TestSite.dns_address``), checked by the native module."""
    example = "dns_servers=[\"127.0.0.1:5353\"]"
    if value is None:
        return []
    single_address = isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], int)
    if isinstance(value, (str, bytes)) or single_address:
        raise TypeError(f"dns_servers must be a list of addresses, e.g. {example}; got a single {_type_name(value)}: wrap it in a list")
    if not isinstance(value, Iterable):
        raise TypeError(f"dns_servers must be a list of addresses, e.g. {example}; got {value!r}")
    servers = []
    for server in value:
        if isinstance(server, tuple) and len(server) == 2 and isinstance(server[0], str) and isinstance(server[1], int):
            host, port = server
            server = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if not isinstance(server, str):
            raise TypeError(f"dns_servers must hold addresses as str or (host, port), e.g. {example}; got {server!r}")
        servers.append(server)
    if not servers:
        raise ValueError(f"dns_servers is empty: name at least one server, e.g. {example}, or leave it out (None) for the system's")
    return servers


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def page_address(value: str) -> str:
    """A page's address: an absolute URL (relative ones would have nothing to resolve against),
    as ``abreast extract --url`` takes it."""
    if not _SCHEME.match(value) or not value.strip():
        raise ValueError(
            f"url {value!r} is not an absolute URL; give the page's address, e.g. url=\"https://example.com/a\""
        )
    return value


def user_agent(value: Any) -> Optional[str]:
    """None (abreast's own), or a User-Agent with no line break."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"user_agent must be a str, e.g. user_agent=\"MyBot/2.0 (+https://example.org/bot)\"; got {value!r}")
    if not value.strip():
        raise ValueError(f"user_agent is blank: give one, e.g. user_agent=\"MyBot/2.0\", or leave it out (None) for abreast's own; got {value!r}")
    return value


def robots(value: Any) -> str:
    """``"ignore"`` or ``"obey"``."""
    if value not in ("ignore", "obey"):
        raise ValueError(f"robots must be \"ignore\" or \"obey\", e.g. robots=\"obey\"; got {value!r}")
    return value
