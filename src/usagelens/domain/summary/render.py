"""Observations rendered back: the text format, the JSON records, timestamps and usages."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from usagelens.domain.batch import UsageBatch, from_micros
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


def render_batch(batch: UsageBatch) -> str:
    """Render a batch in the text format (teams in order of first appearance), formatting
    each distinct time and usage once: a batch of step-aligned readings repeats both."""
    times: dict[int, str] = {}
    usages: dict[float, str] = {}
    by_team: dict[str, list[str]] = {}
    for (team, resource, dimension), readings in batch.series.items():
        prefix = f"({resource},{dimension.value},"
        records = by_team.setdefault(team, [])
        for micros, usage in zip(readings.times, readings.usages, strict=True):
            stamp = times.get(micros)
            if stamp is None:
                stamp = times[micros] = format_timestamp(from_micros(micros))
            text = usages.get(usage)
            if text is None:
                text = usages[usage] = format_usage(usage)
            records.append(f"{prefix}{stamp},{text})")
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
