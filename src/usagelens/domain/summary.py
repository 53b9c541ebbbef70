"""The monitoring module's usage summary: parse it exactly, render it back.

Text form (SPEC 1.1)::

    <team>|(<resource>,<dimension>,<collected_at>,<usage>);(...)$<team>|(...)

JSON form: a list of ``{"team", "resource", "dimension", "collected_at", "usage"}``.
Both parsers reject the whole payload at the first fault, naming where it is.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from usagelens.domain.errors import SummaryFormatError
from usagelens.domain.model import Dimension, Observation

MAX_ID_LENGTH = 200
"""Longest team name or resource id accepted, in characters."""

_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:?\d{2})?\Z"
)
_DIMENSIONS = {d.value: d for d in Dimension}
_DELIMITERS = frozenset("$|;,()")
_JSON_FIELDS = frozenset({"team", "resource", "dimension", "collected_at", "usage"})


@dataclass(frozen=True, slots=True)
class _Where:
    """Where in the payload a fault is: team (index and name) and record."""

    team_index: int | None = None
    team: str | None = None
    record_index: int | None = None

    def error(self, message: str, field: str | None = None) -> SummaryFormatError:
        return SummaryFormatError(
            message,
            team_index=self.team_index,
            team=self.team,
            record_index=self.record_index,
            field=field,
        )


def parse_summary_bytes(data: bytes) -> list[Observation]:
    """Decode a summary as UTF-8 and parse it; bytes that are not UTF-8 are rejected."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1]
        raise SummaryFormatError(
            f"payload is not valid UTF-8 (byte {bad!r} at offset {exc.start})"
        ) from None
    return parse_summary(text)


def parse_summary(text: str) -> list[Observation]:
    """Parse a whole summary in the monitoring module's text format."""
    text = text.strip().removeprefix("\ufeff").strip()
    if not text:
        raise SummaryFormatError("payload is empty")
    observations: list[Observation] = []
    timestamps: dict[str, datetime] = {}
    for team_index, chunk in enumerate(text.split("$"), start=1):
        name, sep, records = chunk.partition("|")
        team = name.strip()
        if not sep:
            if not team:
                raise _Where(team_index).error("empty team entry (a stray '$'?)")
            raise _Where(team_index).error(
                f"missing '|' between the team name and its records in {_excerpt(team)!r}"
            )
        _check_id(team, "team", _Where(team_index))
        records = records.strip()
        if not records:
            raise _Where(team_index, team).error("team has no records")
        for record_index, record in enumerate(records.split(";"), start=1):
            where = _Where(team_index, team, record_index)
            observations.append(_parse_record(record.strip(), team, where, timestamps))
    return observations


def _parse_record(
    record: str, team: str, where: _Where, timestamps: dict[str, datetime]
) -> Observation:
    if not record:
        raise where.error("empty record")
    inner = record[1:-1]
    if not (record.startswith("(") and record.endswith(")")) or "(" in inner or ")" in inner:
        raise where.error(f"unbalanced parentheses in {_excerpt(record)!r}")
    fields = inner.split(",")
    if len(fields) != 4:
        raise where.error(
            f"expected 4 fields (resource, dimension, collected_at, usage), got {len(fields)}"
            f" in {_excerpt(record)!r}"
        )
    resource, dimension, collected_at, usage = (f.strip() for f in fields)
    return Observation(
        team=team,
        resource=_check_id(resource, "resource", where),
        dimension=_parse_dimension(dimension, where),
        collected_at=_parse_timestamp(collected_at, where, timestamps),
        usage=_parse_usage(usage, where),
    )


def parse_records(items: object) -> list[Observation]:
    """Parse the JSON form: a list of observation objects, already decoded."""
    if not isinstance(items, list):
        raise SummaryFormatError("JSON payload must be a list of observation objects")
    if not items:
        raise SummaryFormatError("payload is empty")
    observations = []
    timestamps: dict[str, datetime] = {}
    for index, item in enumerate(items, start=1):
        team = item.get("team") if isinstance(item, dict) else None
        where = _Where(
            team=_excerpt(team.strip()) if isinstance(team, str) else None, record_index=index
        )
        if not isinstance(item, dict):
            raise where.error("must be an object")
        if missing := sorted(_JSON_FIELDS - item.keys()):
            raise where.error(f"missing field(s) {', '.join(missing)}")
        if extra := sorted(item.keys() - _JSON_FIELDS):
            raise where.error(f"unknown field(s) {', '.join(map(str, extra))}")
        for name in ("team", "resource", "dimension", "collected_at"):
            if not isinstance(item[name], str):
                raise where.error(f"{name} must be a string, not {type(item[name]).__name__}", name)
        usage = item["usage"]
        if isinstance(usage, bool) or not isinstance(usage, int | float | str):
            raise where.error(f"usage {usage!r} is not a number", "usage")
        observations.append(
            Observation(
                team=_check_id(item["team"].strip(), "team", where),
                resource=_check_id(item["resource"].strip(), "resource", where),
                dimension=_parse_dimension(item["dimension"].strip(), where),
                collected_at=_parse_timestamp(item["collected_at"].strip(), where, timestamps),
                usage=_parse_usage(str(usage).strip(), where),
            )
        )
    return observations


def render_summary(observations: Iterable[Observation]) -> str:
    """Render observations in the text format, teams in order of first appearance."""
    by_team: dict[str, list[str]] = {}
    for obs in observations:
        by_team.setdefault(obs.team, []).append(
            f"({obs.resource},{obs.dimension.value},{format_timestamp(obs.collected_at)},"
            f"{format_usage(obs.usage)})"
        )
    return "$".join(f"{team}|{';'.join(records)}" for team, records in by_team.items())


def render_records(observations: Iterable[Observation]) -> list[dict[str, object]]:
    """Render observations in the JSON form."""
    return [
        {
            "team": obs.team,
            "resource": obs.resource,
            "dimension": obs.dimension.value,
            "collected_at": format_timestamp(obs.collected_at),
            "usage": int(obs.usage) if obs.usage.is_integer() else obs.usage,
        }
        for obs in observations
    ]


def format_timestamp(moment: datetime) -> str:
    """Format a moment as the module does: ``YYYY-MM-DD HH:MM:SS`` in UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(sep=" ")


def format_usage(usage: float) -> str:
    """Format a usage the way the module does: integers without a decimal point."""
    return str(int(usage)) if usage.is_integer() else repr(usage)


def parse_timestamp(value: str) -> datetime:
    """Parse ``YYYY-MM-DD HH:MM:SS`` or ISO 8601 with ``T`` and an offset; naive is UTC."""
    if not _TIMESTAMP.match(value):
        raise ValueError(f"collected_at {value!r} is not a date-time (YYYY-MM-DD HH:MM:SS)")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"collected_at {value!r} is not a valid date-time ({exc})") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _parse_timestamp(value: str, where: _Where, cache: dict[str, datetime]) -> datetime:
    cached = cache.get(value)
    if cached is not None:
        return cached
    try:
        moment = parse_timestamp(value)
    except ValueError as exc:
        raise where.error(str(exc), "collected_at") from None
    cache[value] = moment
    return moment


def _parse_dimension(value: str, where: _Where) -> Dimension:
    dimension = _DIMENSIONS.get(value)
    if dimension is None:
        raise where.error(
            f"unknown dimension {value!r} (expected CPU, RAM or NetFlow)", "dimension"
        )
    return dimension


def _parse_usage(value: str, where: _Where) -> float:
    try:
        usage = float(value)
    except ValueError:
        raise where.error(f"usage {value!r} is not a number", "usage") from None
    if not math.isfinite(usage) or "_" in value:
        raise where.error(f"usage {value!r} is not a number", "usage")
    if not 0 <= usage <= 100:
        raise where.error(f"usage {value} is out of range (0 to 100 percent)", "usage")
    return usage + 0.0  # folds -0.0 into 0.0


def _check_id(value: str, field: str, where: _Where) -> str:
    if not value:
        raise where.error(f"{field} is empty", field)
    if len(value) > MAX_ID_LENGTH:
        raise where.error(f"{field} is longer than {MAX_ID_LENGTH} characters", field)
    if not value.isprintable():
        raise where.error(f"{field} {value!r} holds control characters", field)
    if _DELIMITERS.intersection(value):
        raise where.error(f"{field} {value!r} holds a delimiter of the format ($ | ; , ( ))", field)
    return value


def _excerpt(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
