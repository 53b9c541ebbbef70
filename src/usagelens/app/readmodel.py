"""Views kept across data versions, so that a read after a write costs what the write
changed rather than what is stored: the all-time view, and one per time window read.

Each series remembers the data version of its last change (``series.changed_version``,
indexed), and the price lists have a version of their own. Advancing a view from the
version it shows to the one a snapshot holds summarises the series changed in between
(all-time: their stored aggregates; a window: their observations within it, judged),
rebuilds their rows and the rows that share a price with them (a resource dimension's price
is split among the teams using it), and re-adds the money of the teams whose rows' decision
or cost moved: money adds up by team. Prices are re-read, and every row re-priced, only
when a price list changed. A series that did not change has the same observations, so its
window summary is still right. A window's view also keeps each series' distribution within
it (encoded, a few hundred bytes) and the latest time it knew: a series whose changes since
were only appends after that time (``series.rewritten_version`` says so) takes in the rows
appended, one key range each, instead of having its window read again.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from usagelens.app.collector import collector_paused
from usagelens.domain.analytics import AnalyticsRow, Evidence, report_order
from usagelens.domain.distribution import Distribution, SeriesStats
from usagelens.domain.model import Dimension, SeriesKey, Window
from usagelens.domain.money import CostSummary, DeletedCosts, TeamMoney, combine, team_money
from usagelens.domain.policy import Policy
from usagelens.domain.prices import PriceList
from usagelens.domain.series import SeriesSummary
from usagelens.ports import StoreQueries, StoreState

_FEW = 16
"""Series of one resource dimension kept in a tuple; more are kept in a set."""

PricesOf = Callable[[StoreQueries], PriceList]
"""Read the prices in force from a snapshot."""

Changes = Callable[[StoreQueries, int, Policy], list[tuple[int, SeriesSummary | None]]]
"""Summarise, by id, every series changed at a data version after the given one (-1: every
series), under a policy; None for one with no observations in the view."""


def all_time_changes(
    queries: StoreQueries, after: int, policy: Policy
) -> list[tuple[int, SeriesSummary | None]]:
    """The changed series' stored aggregates (judged on write, under the stored policy)."""
    return queries.summaries_changed(after)


class WindowChanges:
    """The changed series' observations within a window, counted set-wise and judged.

    Keeps, per series, its distribution within the window and its latest stored time as
    of the version summarised last; a series only appended to since then (its
    ``rewritten`` version is not later) adds the rows after that time, the others are
    read again. Belongs to one view: it must be called with the version that view shows.
    """

    def __init__(self, window: Window) -> None:
        self.window = window
        self._kept: dict[int, tuple[int | None, bytes]] = {}
        """Series id → (latest stored time, encoded distribution within the window)."""

    def __call__(
        self, queries: StoreQueries, after: int, policy: Policy
    ) -> list[tuple[int, SeriesSummary | None]]:
        if after < 0:
            self._kept.clear()
        kept = self._kept
        spans = queries.spans(after)
        known = {}
        for span in spans.values():
            held = kept.get(span.id)
            if held is not None and held[0] is not None and span.rewritten <= after:
                known[span.id] = held[0]
        tails = queries.appended(self.window, known) if known else {}
        again = {span.id for span in spans.values()} - known.keys()
        only = again if known else None  # nothing known: every changed series, unlisted
        inside = dict(queries.distributions(self.window, after, only)) if again else {}
        summaries: list[tuple[int, SeriesSummary | None]] = []
        for key, span in spans.items():
            sid = span.id
            if sid in known:
                tail = tails.get(sid)
                blob = kept[sid][1]
                if tail is None:
                    distribution = Distribution.from_bytes(blob) if blob else None
                else:
                    distribution = Distribution.from_bytes(blob)
                    distribution.apply(Counter(tail))
                    blob = distribution.to_bytes()
            else:
                distribution = inside.get(sid)
                blob = distribution.to_bytes() if distribution is not None else b""
            kept[sid] = (span.last, blob)
            if distribution is None or not distribution.count:
                summaries.append((sid, None))
                continue
            stats = distribution.stats()
            verdict = policy.judge(stats.count, stats.mean, stats.median)
            summaries.append((sid, SeriesSummary(key, stats, verdict, span.first, span.last)))
        return summaries


def window_changes(window: Window) -> Callable[[], Changes]:
    """Make what a view of ``window`` reads of a change (a ``WindowChanges``, kept by it)."""
    return lambda: WindowChanges(window)


@dataclass(frozen=True, slots=True)
class ModelView:
    """What a kept view shows at one data version, in report order."""

    version: int
    stats: list[tuple[SeriesKey, SeriesStats]]
    rows: list[AnalyticsRow]
    costs: CostSummary
    deleted: DeletedCosts
    teams: list[tuple[str, list[AnalyticsRow]]]
    """Each team's rows, in report order: the same list object from version to version
    while none of the team's rows changed (so a reader can re-use what it made of them)."""


class ViewModel:
    """Rows per series and money per team, advanced by the series each write changed.

    ``changes`` makes the function that tells what a series shows in this view
    (``all_time_changes`` by default); a new one is made whenever the view starts over.
    """

    def __init__(
        self, prices_of: PricesOf, changes: Callable[[], Changes] = lambda: all_time_changes
    ) -> None:
        self._prices_of = prices_of
        self._make_changes = changes
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._changes = self._make_changes()
        self.version = -1
        """The data version shown; -1: nothing read yet."""
        self._basis: tuple[str | None, str, int] | None = None
        self._prices_version = -1
        self._prices = PriceList({})
        self._summaries: dict[int, SeriesSummary] = {}
        self._rows: dict[int, AnalyticsRow] = {}
        self._users: dict[tuple[str, Dimension], tuple[int, ...] | set[int]] = {}
        """Per resource dimension, the series using it (its price is split among them): a
        tuple while they are a few, as most are (a set each was 21 MB at 50,000 series a
        view), a set past ``_FEW``, so that a resource shared by thousands stays linear."""
        self._members: dict[str, set[int]] = {}
        self._ordered: dict[str, list[int]] = {}
        """Per team, its series in report order (dropped when its membership changes)."""
        self._team_rows: dict[str, list[AnalyticsRow]] = {}
        """Per team, its rows in report order (dropped when one of them changes)."""
        self._team_stats: dict[str, list[tuple[SeriesKey, SeriesStats]]] = {}
        """Per team, its series' statistics in report order (dropped with its rows), so
        that a version's list of every series' statistics is made of kept parts."""
        self._money: dict[str, TeamMoney] = {}

    def forget(self) -> None:
        """Start over at the next read (after a rebuild changed every verdict)."""
        with self._lock:
            self._reset()

    def view(self, queries: StoreQueries, state: StoreState, policy: Policy) -> ModelView:
        """Return the view at the snapshot's data version, reading what changed.

        A snapshot older than the view already shown (a slow reader) is computed whole,
        apart; a change of policy starts over.
        """
        with self._lock, collector_paused():
            if state.data_version < self.version:
                return ViewModel(self._prices_of, self._make_changes).view(queries, state, policy)
            basis = (state.policy_fingerprint, policy.fingerprint, policy.min_observations)
            if basis != self._basis:
                self._reset()
                self._basis = basis
            return self._advance(queries, state, policy)

    def _advance(self, queries: StoreQueries, state: StoreState, policy: Policy) -> ModelView:
        enough = policy.min_observations
        changed: list[tuple[int, SeriesSummary | None]] = []
        if state.data_version > self.version:
            changed = self._changes(queries, self.version, policy)
        reprice = state.prices_version != self._prices_version
        if reprice:
            self._prices = self._prices_of(queries)
            self._prices_version = state.prices_version
        touched: set[int] = set()
        dirty: set[str] = set()
        for sid, summary in changed:
            old = self._summaries.get(sid)
            if summary is None:
                if old is not None:
                    self._leave(sid, old, touched)
                    dirty.add(old.key[0])
                continue
            self._summaries[sid] = summary
            if old is None:
                self._join(sid, summary, touched)
                dirty.add(summary.key[0])
            touched.add(sid)
        touched = set(self._summaries) if reprice else touched & self._summaries.keys()
        team_rows, team_stats = self._team_rows, self._team_stats
        for sid in touched:
            summary = self._summaries[sid]
            before = self._rows.get(sid)
            row = self._rows[sid] = self._row(summary, enough)
            team_rows.pop(row.team, None)
            team_stats.pop(row.team, None)
            if before is None or (before.decision, before.cost) != (row.decision, row.cost):
                dirty.add(row.team)
        for team in dirty:
            team_rows.pop(team, None)
            team_stats.pop(team, None)
            if self._members.get(team):
                self._money[team] = team_money(team, [self._rows[s] for s in self._order(team)])
            else:
                self._members.pop(team, None)
                self._money.pop(team, None)
        self.version = state.data_version
        teams = sorted(self._members)
        costs, deleted = combine([self._money[team] for team in teams])
        by_team = [(team, self._rows_of(team)) for team in teams]
        return ModelView(
            self.version,
            [pair for team in teams for pair in self._stats_of(team)],
            [row for _, rows in by_team for row in rows],
            costs,
            deleted,
            by_team,
        )

    def _rows_of(self, team: str) -> list[AnalyticsRow]:
        rows = self._team_rows.get(team)
        if rows is None:
            rows = self._team_rows[team] = [self._rows[s] for s in self._order(team)]
        return rows

    def _stats_of(self, team: str) -> list[tuple[SeriesKey, SeriesStats]]:
        stats = self._team_stats.get(team)
        if stats is None:
            summaries = self._summaries
            stats = self._team_stats[team] = [
                (summaries[s].key, summaries[s].stats) for s in self._order(team)
            ]
        return stats

    def _join(self, sid: int, summary: SeriesSummary, touched: set[int]) -> None:
        """Add a series that now holds observations; the others of its price share less."""
        group = _group(summary.key)
        users = self._users.get(group, ())
        touched.update(users)
        if isinstance(users, set):
            users.add(sid)
        else:
            self._users[group] = (*users, sid) if len(users) < _FEW else {*users, sid}
        team = summary.key[0]
        self._members.setdefault(team, set()).add(sid)
        self._ordered.pop(team, None)

    def _leave(self, sid: int, old: SeriesSummary, touched: set[int]) -> None:
        """Drop a series that holds no observations now; the others share more."""
        del self._summaries[sid]
        self._rows.pop(sid, None)
        group = _group(old.key)
        users = self._users.pop(group)
        if isinstance(users, set):
            users.discard(sid)
        else:
            users = tuple(user for user in users if user != sid)
        if users:
            self._users[group] = users
        touched.update(users)
        team = old.key[0]
        self._members[team].discard(sid)
        self._ordered.pop(team, None)

    def _order(self, team: str) -> list[int]:
        order = self._ordered.get(team)
        if order is None:
            members = self._members[team]
            order = self._ordered[team] = sorted(
                members, key=lambda s: report_order(self._summaries[s].key)
            )
        return order

    def _row(self, summary: SeriesSummary, enough: int) -> AnalyticsRow:
        team, resource, dimension = summary.key
        price = self._prices.price(resource, dimension)
        verdict = summary.verdict
        return AnalyticsRow(
            team=team,
            resource=resource,
            dimension=dimension,
            verdict=verdict,
            cost=None if price is None else price / len(self._users[(resource, dimension)]),
            evidence=Evidence(verdict.count, summary.first, summary.last, verdict.count >= enough),
        )


def _group(key: SeriesKey) -> tuple[str, Dimension]:
    return (key[1], key[2])


__all__ = [
    "Changes",
    "ModelView",
    "PricesOf",
    "ViewModel",
    "WindowChanges",
    "all_time_changes",
    "window_changes",
]
