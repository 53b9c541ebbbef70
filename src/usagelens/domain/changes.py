"""What changed between two views of the data: decisions that moved, series that appeared or
vanished, and how the money on what is to be deleted moved, per team and overall."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from usagelens.domain.analytics import AnalyticsRow
from usagelens.domain.model import ALL_TIME, Decision, Dimension, SeriesKey, Window
from usagelens.domain.money import DeletedCosts


@dataclass(frozen=True, slots=True)
class DecisionChange:
    """One series whose decision differs between the two ends."""

    team: str
    resource: str
    dimension: str
    before: str
    after: str
    reason_before: str
    reason_after: str
    cost_before: float | None
    cost_after: float | None
    when: datetime | None = None
    """When the store recorded the change (its decision history), if it did."""

    @property
    def key(self) -> SeriesKey:
        """Return the series' key."""
        return (self.team, self.resource, Dimension(self.dimension))

    @property
    def kind(self) -> str:
        """Say what the change means for the clean-up: ``became_candidate`` (now delete),
        ``stopped_candidate`` (delete no longer), or ``other``."""
        if self.after == Decision.DELETE.value:
            return "became_candidate"
        if self.before == Decision.DELETE.value:
            return "stopped_candidate"
        return "other"


@dataclass(frozen=True, slots=True)
class SeriesEnd:
    """A series present at one end only: new now, or vanished since."""

    team: str
    resource: str
    dimension: str
    decision: str
    cost: float | None


@dataclass(frozen=True, slots=True)
class MoneyMove:
    """The money on what is to be deleted at both ends, and the change."""

    before: float
    after: float

    @property
    def change(self) -> float:
        """Return after minus before."""
        return self.after - self.before


@dataclass(frozen=True)
class Changes:
    """Everything that changed between ``then`` (the moment compared with) and now."""

    since: datetime
    decisions: list[DecisionChange]
    new: list[SeriesEnd]
    vanished: list[SeriesEnd]
    deleted: MoneyMove
    deleted_by_dimension: dict[str, MoneyMove]
    teams: dict[str, MoneyMove] = field(default_factory=dict)
    """Per team (every team at either end): the money on what is to be deleted."""
    rows_before: int = 0
    """How many series the earlier end has (0: nothing was stored then)."""
    window_before: Window = ALL_TIME
    """The window of the earlier end (it ends at ``since``)."""
    window_after: Window = ALL_TIME
    """The window of now."""


def _end(row: AnalyticsRow) -> SeriesEnd:
    return SeriesEnd(row.team, row.resource, row.dimension.value, row.decision.value, row.cost)


def diff_rows(
    since: datetime,
    before: Sequence[AnalyticsRow],
    after: Sequence[AnalyticsRow],
    deleted_before: DeletedCosts,
    deleted_after: DeletedCosts,
) -> Changes:
    """Compare two views' rows (in report order) and money: which decisions moved, which
    series are new or gone, how the money on what is to be deleted moved."""
    then = {(r.team, r.resource, r.dimension): r for r in before}
    now = {(r.team, r.resource, r.dimension): r for r in after}
    decisions = [
        DecisionChange(
            row.team,
            row.resource,
            row.dimension.value,
            old.decision.value,
            row.decision.value,
            old.reason,
            row.reason,
            old.cost,
            row.cost,
        )
        for key, row in now.items()
        if (old := then.get(key)) is not None and old.decision is not row.decision
    ]
    new = [_end(row) for key, row in now.items() if key not in then]
    vanished = [_end(row) for key, row in then.items() if key not in now]
    dimensions = sorted(set(deleted_before.by_dimension) | set(deleted_after.by_dimension))
    teams = sorted(
        {r.team for r in before} | {r.team for r in after}
    )  # a team with no row to delete has 0 at that end
    return Changes(
        since=since,
        rows_before=len(before),
        decisions=decisions,
        new=new,
        vanished=vanished,
        deleted=MoneyMove(deleted_before.total, deleted_after.total),
        deleted_by_dimension={
            d: MoneyMove(
                deleted_before.by_dimension.get(d, 0.0), deleted_after.by_dimension.get(d, 0.0)
            )
            for d in dimensions
        },
        teams={
            t: MoneyMove(
                deleted_before.teams.get(t, {}).get("total", 0.0),
                deleted_after.teams.get(t, {}).get("total", 0.0),
            )
            for t in teams
        },
    )


__all__ = ["Changes", "DecisionChange", "MoneyMove", "SeriesEnd", "diff_rows"]
