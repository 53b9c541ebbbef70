"""Moments in UTC: how a time the user writes is read, and how any moment is made UTC."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

FORMS = (
    "2026-11-27, 2026-11-27 13:00:00, 2026-11-27T13:00:00Z, a span back from now "
    "(7d, 12h, 30m) or all"
)
"""The forms a time may be written in: a date, a date and time, ISO 8601 with a zone, or a
span back from now; ``all`` (no bound) where a window's end is asked for."""
DURATIONS = "90 (seconds), 30s, 5m, 1h or 7d"
"""The forms a duration may be written in."""
_LOOKS_LIKE_A_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_AGO = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
NO_BOUND = frozenset({"all"})


def as_utc(moment: datetime) -> datetime:
    """Return a moment as aware UTC; a naive one is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def naive_utc(moment: datetime) -> datetime:
    """Return a moment as naive UTC, the way the database's DateTime columns hold it."""
    return as_utc(moment).replace(tzinfo=None)


def parse_duration(text: str) -> float | None:
    """Read ``90``, ``30s``, ``5m``, ``1h`` or ``7d`` as seconds ('' or 'off' is None);
    ValueError naming the accepted forms otherwise."""
    value = text.strip().lower()
    if value in {"", "off", "none", "0"}:
        return None
    unit = _UNITS.get(value[-1])
    number = value[:-1] if unit else value
    try:
        seconds = float(number) * (unit or 1)
    except ValueError:
        raise ValueError(f"{text!r} is not a duration (like {DURATIONS})") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{text!r} is not a positive duration (like {DURATIONS})")
    return seconds


def parse_bound(text: str, now: datetime | None = None) -> datetime | None:
    """Read a window's bound as written by a user (see FORMS): ``all`` is no bound."""
    if text.strip().lower() in NO_BOUND:
        return None
    return parse_moment(text, now)


def parse_moment(text: str, now: datetime | None = None) -> datetime:
    """Read a time as written by a user (see FORMS); naive times are UTC, and a span (``7d``)
    is that long before ``now`` (the clock's), counted from the whole minute so that reads
    within a minute name the same window.

    A bare number is refused rather than read as a Unix time: ``since=0`` more likely
    means "from the start" than 1970. Raises ValueError naming the accepted forms.
    """
    value = text.strip()
    ago = _AGO.fullmatch(value.lower())
    if ago is not None:
        span = timedelta(seconds=float(ago[1]) * _UNITS[ago[2]])
        start = as_utc(now or utc_now()).replace(second=0, microsecond=0)
        try:
            return start - span
        except OverflowError:
            raise ValueError(f"{text!r} reaches back before the year 1") from None
    if not _LOOKS_LIKE_A_DATE.match(value):
        raise ValueError(f"{text!r} is not a time: use {FORMS}")
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError:
        raise ValueError(f"{text!r} is not a time: use {FORMS}") from None


def utc_now() -> datetime:
    """Return the current moment in UTC (the default clock)."""
    return datetime.now(UTC)


__all__ = [
    "DURATIONS",
    "FORMS",
    "as_utc",
    "naive_utc",
    "parse_bound",
    "parse_duration",
    "parse_moment",
    "utc_now",
]
