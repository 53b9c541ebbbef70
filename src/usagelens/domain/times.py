"""Moments in UTC: how a time the user writes is read, and how any moment is made UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime

FORMS = "2026-11-27, 2026-11-27 13:00:00 or 2026-11-27T13:00:00Z"
"""The forms a time may be written in (a date, a date and time, ISO 8601 with a zone)."""
_LOOKS_LIKE_A_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def as_utc(moment: datetime) -> datetime:
    """Return a moment as aware UTC; a naive one is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def naive_utc(moment: datetime) -> datetime:
    """Return a moment as naive UTC, the way the database's DateTime columns hold it."""
    return as_utc(moment).replace(tzinfo=None)


def parse_moment(text: str) -> datetime:
    """Read a time as written by a user (see FORMS); naive times are UTC.

    A bare number is refused rather than read as a Unix time: ``since=0`` more likely
    means "from the start" than 1970. Raises ValueError naming the accepted forms.
    """
    value = text.strip()
    if not _LOOKS_LIKE_A_DATE.match(value):
        raise ValueError(f"{text!r} is not a time: use {FORMS}")
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError:
        raise ValueError(f"{text!r} is not a time: use {FORMS}") from None


def utc_now() -> datetime:
    """Return the current moment in UTC (the default clock)."""
    return datetime.now(UTC)


__all__ = ["FORMS", "as_utc", "naive_utc", "parse_moment", "utc_now"]
