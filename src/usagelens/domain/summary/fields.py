"""The summary's field rules, one place for both forms: ids, dimension, usage, timestamp.

Also ``Where``, the location a fault is reported at (team, record, field).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime

from usagelens.domain.errors import SummaryFormatError
from usagelens.domain.ids import name_problem
from usagelens.domain.model import Dimension
from usagelens.domain.times import as_utc

_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:?\d{2})?\Z"
)
DIMENSIONS = {d.value: d for d in Dimension}
"""Dimension by its name in a payload."""
_DELIMITERS = frozenset("$|;,()")


@dataclass(frozen=True, slots=True)
class Where:
    """Where in the payload a fault is: team (index and name) and record."""

    team_index: int | None = None
    team: str | None = None
    record_index: int | None = None

    def error(self, message: str, field: str | None = None) -> SummaryFormatError:
        """Return the error for a fault here, in ``field`` if one is named."""
        return SummaryFormatError(
            message,
            team_index=self.team_index,
            team=self.team,
            record_index=self.record_index,
            field=field,
        )


NOWHERE = Where()
"""No location: for checks whose error is dropped (the fast path only asks yes or no)."""


def parse_timestamp(value: str) -> datetime:
    """Parse ``YYYY-MM-DD HH:MM:SS`` or ISO 8601 with ``T`` and an offset; naive is UTC."""
    if not _TIMESTAMP.match(value):
        raise ValueError(f"collected_at {value!r} is not a date-time (YYYY-MM-DD HH:MM:SS)")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"collected_at {value!r} is not a valid date-time ({exc})") from None
    return as_utc(moment)


def parse_collected_at(value: str, where: Where, cache: dict[str, datetime]) -> datetime:
    """Parse a record's collected_at, remembering each distinct text in ``cache``."""
    cached = cache.get(value)
    if cached is not None:
        return cached
    try:
        moment = parse_timestamp(value)
    except ValueError as exc:
        raise where.error(str(exc), "collected_at") from None
    cache[value] = moment
    return moment


def parse_dimension(value: str, where: Where) -> Dimension:
    """Return the dimension a record names."""
    dimension = DIMENSIONS.get(value)
    if dimension is None:
        raise where.error(
            f"unknown dimension {value!r} (expected CPU, RAM or NetFlow)", "dimension"
        )
    return dimension


def parse_usage(value: str, where: Where) -> float:
    """Return a record's usage: a finite number from 0 to 100."""
    try:
        usage = float(value)
    except ValueError:
        raise where.error(f"usage {value!r} is not a number", "usage") from None
    if not math.isfinite(usage) or "_" in value:
        raise where.error(f"usage {value!r} is not a number", "usage")
    if not 0 <= usage <= 100:
        raise where.error(f"usage {value} is out of range (0 to 100 percent)", "usage")
    return usage + 0.0  # folds -0.0 into 0.0


def check_id(value: str, field: str, where: Where) -> str:
    """Return a team or resource id if it may be stored and holds no delimiter."""
    if (problem := name_problem(value)) is not None:
        raise where.error(f"{field} {problem}", field)
    if _DELIMITERS.intersection(value):
        raise where.error(f"{field} {value!r} holds a delimiter of the format ($ | ; , ( ))", field)
    return value


def excerpt(text: str, limit: int = 60) -> str:
    """Shorten a text quoted in an error to ``limit`` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
