"""Source URLs: which forms usagelens pulls from, checked once for settings and the CLI."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import parse_qs, urlsplit

from usagelens.domain.errors import NotConfigured
from usagelens.domain.ids import LOCATOR_MAX

SOURCE_URL_MAX = LOCATOR_MAX
"""Longest source URL: the columns that keep source names (positions, origins) are this wide."""
SOURCE_FORMS = (
    "http://HOST:PORT, https://HOST:PORT[/PREFIX], prometheus+http://HOST:PORT[/PREFIX] "
    "(or prometheus+https://) or postgresql://USER@HOST/DB?table=SCHEMA.TABLE"
)
"""The accepted forms, as error messages name them."""
_TABLE_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")
_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


def is_table_source(url: str) -> bool:
    """Tell whether a source URL names a PostgreSQL table rather than an HTTP source."""
    return url.startswith(_TABLE_SCHEMES)


PROMQL_SCHEMES = ("prometheus+http://", "prometheus+https://")


def is_promql_source(url: str) -> bool:
    """Tell whether a source URL names a server of the Prometheus HTTP API."""
    return url.lower().startswith(PROMQL_SCHEMES)


def promql_base(url: str) -> str:
    """Return the HTTP base URL a ``prometheus+http(s)://…`` source is reached at."""
    return url[len("prometheus+") :].rstrip("/")


def check_source_url(url: str, what: str = "source") -> str:
    """Return a source URL unchanged if usagelens can pull from it, else raise NotConfigured.

    The message is one line naming the URL as ``what``, what is wrong with it and the
    accepted forms. Nothing is contacted.
    """
    if len(url) > SOURCE_URL_MAX:
        raise _refuse(what, url, f"is longer than {SOURCE_URL_MAX} characters ({len(url)})")
    if any(c.isspace() or unicodedata.category(c) == "Cc" for c in url):
        raise _refuse(what, url, "holds spaces or control characters")
    if not url:
        raise _refuse(what, url, "is empty")
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed [IPv6 address, say
        raise _refuse(what, url, "is not a URL") from None
    if is_table_source(url):
        tables = parse_qs(parts.query).get("table", [])
        if any(not _TABLE_NAME.fullmatch(name) for name in tables):
            raise _refuse(what, url, "names a table that is not SCHEMA.TABLE")
        return url
    scheme = parts.scheme.lower()
    if "://" not in url or not scheme:
        raise _refuse(what, url, "has no scheme")
    if scheme not in {"http", "https", "prometheus+http", "prometheus+https"}:
        raise _refuse(what, url, f"has the scheme {scheme!r}, which usagelens does not pull")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise _refuse(what, url, "has a port that is not a number from 1 to 65535")
    if not parts.hostname:
        raise _refuse(what, url, "names no host")
    return url


def _refuse(what: str, url: str, why: str) -> NotConfigured:
    shown = repr(url if len(url) <= 80 else url[:80] + "…")
    return NotConfigured(f"{what} {shown} {why}: use {SOURCE_FORMS}")


__all__ = [
    "PROMQL_SCHEMES",
    "SOURCE_FORMS",
    "SOURCE_URL_MAX",
    "check_source_url",
    "is_promql_source",
    "is_table_source",
    "promql_base",
]
