"""Recommendations: every row to delete or extend, with a state people move it through.

::

    active ──dismiss──▶ dismissed (until a time: a snooze, back to active then)
      │ ▲                  │
      │ └────reopen────────┘
      ├──claim──▶ claimed ──(no new observation for SUCCESS_AFTER)──▶ succeeded
      │             │      ──(observations still arrive past FAIL_AFTER)──▶ failed
      │             └──done / fail by hand──▶ succeeded / failed
      └── an exclusion rule matches ──▶ excluded (shown, never alerted)

A row whose decision changes goes back to ``active`` for its new decision; the old state
stays in its history. The course's decisions and money never depend on a state: states add
the money of what is actionable, dismissed, excluded, claimed and realised.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from usagelens.domain.analytics import AnalyticsRow, Evidence
from usagelens.domain.errors import IllegalMove, InvalidInput
from usagelens.domain.model import Decision, Dimension, SeriesKey


class State(StrEnum):
    """Where a recommendation stands."""

    ACTIVE = "active"
    DISMISSED = "dismissed"
    CLAIMED = "claimed"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXCLUDED = "excluded"


TRANSITIONS: dict[State, frozenset[State]] = {
    State.ACTIVE: frozenset({State.DISMISSED, State.CLAIMED}),
    State.DISMISSED: frozenset({State.ACTIVE, State.CLAIMED}),
    State.CLAIMED: frozenset({State.ACTIVE, State.SUCCEEDED, State.FAILED, State.DISMISSED}),
    State.SUCCEEDED: frozenset({State.ACTIVE}),
    State.FAILED: frozenset({State.ACTIVE, State.CLAIMED}),
    State.EXCLUDED: frozenset(),
}
"""The moves a person may make; ``excluded`` follows the exclusion rules alone."""
RECOMMENDED = frozenset({Decision.DELETE, Decision.EXTEND})
"""Decisions that make a row a recommendation."""


def recommendation_id(key: SeriesKey) -> str:
    """Return a recommendation's stable, opaque id: the same for a series whatever happens."""
    team, resource, dimension = key
    raw = "\x1f".join((team, resource, dimension.value)).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class StoredState:
    """What a person last set for a series' recommendation (the decision it was set for)."""

    decision: Decision
    state: State
    reason: str
    until: datetime | None
    """For a dismissal: when it ends (a snooze); None: for good."""
    by: str
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class Exclusion:
    """A rule that takes matching rows out of the actionable work (globs, as fnmatch)."""

    id: int
    team: str
    resource: str
    dimension: Dimension | None
    reason: str

    def matches(self, key: SeriesKey) -> bool:
        """Tell whether a series falls under the rule."""
        team, resource, dimension = key
        return (
            fnmatch.fnmatchcase(team, self.team)
            and fnmatch.fnmatchcase(resource, self.resource)
            and (self.dimension is None or self.dimension is dimension)
        )


@dataclass(frozen=True, slots=True)
class Recommendation:
    """A row to delete or extend, with its evidence and its state now."""

    id: str
    row: AnalyticsRow
    evidence: Evidence
    state: State
    state_reason: str
    until: datetime | None
    by: str
    changed_at: datetime | None
    exclusion: int | None = None
    """The id of the exclusion rule that matched, for an excluded one."""

    @property
    def actionable(self) -> bool:
        """Tell whether someone should act on it: active or claimed, with enough data."""
        return self.state in {State.ACTIVE, State.CLAIMED} and self.evidence.enough_data


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """How a claimed deletion is judged done or failed (by the server's arrival clock)."""

    success_after: timedelta = timedelta(hours=48)
    fail_after: timedelta = timedelta(days=7)


def effective_state(
    row: AnalyticsRow,
    stored: StoredState | None,
    exclusions: Sequence[Exclusion],
    last_arrival: datetime | None,
    now: datetime,
    lifecycle: Lifecycle,
) -> tuple[State, StoredState | None, int | None]:
    """Return a row's state now, the stored state it derives from (None: none applies),
    and the exclusion that matched.

    A stored state set for another decision no longer applies (the row is active again).
    A snooze that has run out is active. A claimed deletion is succeeded once its series
    has had no new observation for ``success_after`` since the claim (and since the last
    one that still came), failed once observations arrived past ``fail_after``.
    """
    key = (row.team, row.resource, row.dimension)
    for exclusion in exclusions:
        if exclusion.matches(key):
            return State.EXCLUDED, None, exclusion.id
    if stored is None or stored.decision is not row.decision:
        return State.ACTIVE, None, None
    state = stored.state
    if state is State.DISMISSED and stored.until is not None and stored.until <= now:
        return State.ACTIVE, None, None
    if state is State.CLAIMED and row.decision is Decision.DELETE:
        claimed = stored.changed_at
        arrived = last_arrival if last_arrival is not None and last_arrival > claimed else None
        if arrived is not None and arrived > claimed + lifecycle.fail_after:
            return State.FAILED, stored, None
        quiet_since = arrived or claimed
        if now - quiet_since >= lifecycle.success_after:
            return State.SUCCEEDED, stored, None
    return state, stored, None


def check_move(current: State, wanted: State) -> None:
    """Refuse a move the lifecycle does not allow (a 409 naming the allowed ones)."""
    allowed = TRANSITIONS[current]
    if wanted not in allowed:
        names = (
            ", ".join(sorted(s.value for s in allowed)) or "none (it follows the exclusion rules)"
        )
        raise IllegalMove(
            f"a recommendation that is {current.value} cannot become {wanted.value}; "
            f"it may become: {names}"
        )


def parse_state(text: str) -> State:
    """Read a state's name (InvalidInput naming the states if it is none)."""
    try:
        return State(text)
    except ValueError:
        names = ", ".join(s.value for s in State)
        raise InvalidInput(f"state {text!r} is not one of {names}") from None


MONEY_STATES = ("actionable", "dismissed", "excluded", "claimed", "realised")
"""The money the summary splits recommendations into (a row may count in two: a claimed
one with enough data is actionable and claimed)."""


def money_by_state(recommendations: Iterable[Recommendation]) -> dict[str, float]:
    """Return the money of recommendations by state: actionable (active or claimed, with
    enough data), dismissed, excluded, claimed, realised (succeeded deletions)."""
    money = dict.fromkeys(MONEY_STATES, 0.0)
    for item in recommendations:
        cost = item.row.cost
        if cost is None:
            continue
        if item.actionable:
            money["actionable"] += cost
        if item.state is State.DISMISSED:
            money["dismissed"] += cost
        elif item.state is State.EXCLUDED:
            money["excluded"] += cost
        elif item.state is State.CLAIMED:
            money["claimed"] += cost
        elif item.state is State.SUCCEEDED and item.row.decision is Decision.DELETE:
            money["realised"] += cost
    return money


@dataclass(frozen=True, slots=True)
class Tally:
    """What a summary adds up of some recommendations (one team's, in practice): how many
    there are per state and decision, of all and of those with enough data, and the money
    by state (``money_by_state``)."""

    counts: Counter[tuple[State, Decision]]
    with_data: Counter[tuple[State, Decision]]
    money: dict[str, float]


def tally(recommendations: Sequence[Recommendation]) -> Tally:
    """Add up some recommendations."""
    counts = Counter((item.state, item.row.decision) for item in recommendations)
    with_data = Counter(
        (item.state, item.row.decision) for item in recommendations if item.evidence.enough_data
    )
    return Tally(counts, with_data, money_by_state(recommendations))


def combine_tallies(tallies: Iterable[Tally]) -> Tally:
    """Add up tallies, in the order given (money is a float sum: the order is part of the
    answer, so a reader that re-uses some teams' tallies agrees with one that makes all)."""
    counts: Counter[tuple[State, Decision]] = Counter()
    with_data: Counter[tuple[State, Decision]] = Counter()
    money = dict.fromkeys(MONEY_STATES, 0.0)
    for part in tallies:
        counts.update(part.counts)
        with_data.update(part.with_data)
        for state, amount in part.money.items():
            money[state] += amount
    return Tally(counts, with_data, money)


__all__ = [
    "MONEY_STATES",
    "RECOMMENDED",
    "TRANSITIONS",
    "Evidence",
    "Exclusion",
    "Lifecycle",
    "Recommendation",
    "State",
    "StoredState",
    "Tally",
    "check_move",
    "combine_tallies",
    "effective_state",
    "money_by_state",
    "parse_state",
    "recommendation_id",
    "tally",
]
