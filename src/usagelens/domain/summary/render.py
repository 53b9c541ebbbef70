"""Observations rendered back: the text format, the JSON records, timestamps and usages."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from usagelens.domain.model import Observation
from usagelens.domain.times import naive_utc


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
        moment = naive_utc(moment)
    return moment.isoformat(sep=" ")


def format_usage(usage: float) -> str:
    """Format a usage the way the module does: integers without a decimal point."""
    return str(int(usage)) if usage.is_integer() else repr(usage)
