"""The read model: views of a window (rows, statistics, money), reports, what-ifs, and what
a scrape shows beside the data. Results are cached per data version, which every change
advances; a warm read is one cheap query for the store's state.

Reads of all stored data come from the maintained aggregates; a time window from the raw
observations, counted set-wise. Both views are kept and advanced by the series each write
changed (``app.readmodel``). Every read runs in one snapshot.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property
from itertools import groupby
from operator import attrgetter
from typing import TypeVar

from usagelens.app.policy import PolicyGuard
from usagelens.app.readmodel import ViewModel, window_changes
from usagelens.cache import VersionedCache
from usagelens.domain.analytics import AnalyticsRow
from usagelens.domain.batch import from_micros, to_micros
from usagelens.domain.changes import Changes, diff_rows
from usagelens.domain.distribution import SeriesStats
from usagelens.domain.errors import InvalidInput, NotFound
from usagelens.domain.focus import FocusAccount, FocusExport
from usagelens.domain.model import ALL_TIME, SeriesKey, Window
from usagelens.domain.money import CostSummary, DeletedCosts, money_of
from usagelens.domain.policy import Policy
from usagelens.domain.prices import PriceList, prices_in_force
from usagelens.domain.report import Report, TeamContact
from usagelens.domain.times import as_utc
from usagelens.domain.whatif import PolicyDiff, diff_policy
from usagelens.ports import (
    BatchRecord,
    Clock,
    PushState,
    RefreshStatus,
    Store,
    StoreQueries,
)

T = TypeVar("T")

KEPT_WINDOWS = 2
"""How many windows' views are kept and advanced: each holds a row per series (at 50,000
series tens of megabytes), and one read of another window costs what it did before."""


@dataclass(frozen=True)
class DataView:
    """Everything reads show for one window at one data version."""

    version: int
    window: Window
    stats: list[tuple[SeriesKey, SeriesStats]]
    rows: list[AnalyticsRow]
    money: tuple[CostSummary, DeletedCosts] | None = field(default=None, repr=False)
    """The rows' money, when it is known already (the all-time model keeps it)."""
    teams: list[tuple[str, list[AnalyticsRow]]] | None = field(default=None, repr=False)
    """Each team's rows, when the kept view gives them (lists kept while unchanged)."""

    @property
    def by_team(self) -> list[tuple[str, list[AnalyticsRow]]]:
        """Return each team's rows in report order (``teams``, or grouped from ``rows``)."""
        if self.teams is not None:
            return self.teams
        return [(team, list(rows)) for team, rows in groupby(self.rows, attrgetter("team"))]

    @cached_property
    def _money(self) -> tuple[CostSummary, DeletedCosts]:
        return self.money if self.money is not None else money_of(self.rows)

    @property
    def costs(self) -> CostSummary:
        """Return the total cost per resource, per team and overall."""
        return self._money[0]

    @property
    def deleted(self) -> DeletedCosts:
        """Return the money spent on what is to be deleted."""
        return self._money[1]


Teams = tuple[str, ...] | None
"""The teams a read is about, sorted and without repeats (None or empty: every team)."""


def team_scope(teams: Collection[str] | None) -> Teams:
    """Return the teams a read names in the one form reads and cache keys use."""
    return tuple(sorted(set(teams))) if teams else None


def scoped(view: DataView, teams: Teams) -> DataView:
    """Return the part of a view that is about some teams: their rows, statistics, money.

    A row's cost is its team's share already, so the money of the part is the money of its
    rows, the same figures the whole view gives those teams.
    """
    if not teams:
        return view
    wanted = set(teams)
    by_team = [(team, rows) for team, rows in view.by_team if team in wanted]
    rows = [row for _, part in by_team for row in part]
    stats = [(key, stats) for key, stats in view.stats if key[0] in wanted]
    return DataView(view.version, view.window, stats, rows, None, by_team)


@dataclass(frozen=True, slots=True)
class MetricsState:
    """What a scrape shows beside the data: pushed events, counters, the last refresh."""

    push: PushState
    counters: dict[str, int]
    refresh: RefreshStatus | None


class Queries:
    """Answer every read: views, money, reports, what-ifs, the audit trail, readiness.

    ``window`` is the rolling window reads use when they name none (None: all data);
    ``source_order`` decides which price list wins (see ``app.prices.Prices``); ``focus``
    names who bills in the FOCUS export.
    """

    def __init__(
        self,
        store: Store,
        guard: PolicyGuard,
        clock: Clock,
        *,
        currency: str = "RUB",
        window: timedelta | None = None,
        source_order: Sequence[str] = (),
        focus: FocusAccount | None = None,
        contacts: Mapping[str, TeamContact] | None = None,
    ) -> None:
        self.store = store
        self.guard = guard
        self.clock = clock
        self.currency = currency
        self.window = window
        self.source_order = tuple(source_order)
        self.focus = focus or FocusAccount()
        self.contacts = dict(contacts or {})
        """Each team's owner and contact (config file ``teams:``), shown in reports."""
        self._cache = VersionedCache()
        self._prices: tuple[int, PriceList] | None = None
        self._all_time = ViewModel(self._prices_in_force)
        self._windows_lock = threading.Lock()
        self._windows: OrderedDict[Window, ViewModel] = OrderedDict()
        """The views of the last windows read (two: a rolling window is a new one each
        minute), each advanced by what changed."""

    def resolve(self, window: Window | None = None) -> Window:
        """Return the window a read covers: the one named, else the configured default.

        A rolling default window starts on a whole minute, so that reads within the
        same minute share cached results.
        """
        if window is not None and window != ALL_TIME:
            return window
        if self.window is None:
            return ALL_TIME
        now = self.clock().replace(second=0, microsecond=0)
        return Window(since=now - self.window)

    def view(self, window: Window | None = None, teams: Collection[str] | None = None) -> DataView:
        """Return rows, statistics and money of a window (of some teams: NotFound for a
        team with no stored series), cached per data version.

        A warm read is one cheap query for the store's state; on a miss the view is
        computed in a read transaction and cached under the version read inside it.
        """
        scope = team_scope(teams)
        if scope is None:
            return self._view(window)
        self.check_teams(scope)
        whole = self._view(window)
        return self._cache.get(
            ("scoped", whole.window, scope), whole.version, lambda: scoped(whole, scope)
        )

    def teams(self) -> frozenset[str]:
        """Return every team with a stored series (in any window), cached per data version."""
        state = self.store.state()
        known: frozenset[str] | None = self._cache.peek(("teams",), state.data_version)
        if known is not None:
            return known
        with self.store.read() as queries:
            version = queries.state().data_version
            return self._cache.get(
                ("teams",), version, lambda: frozenset(key[0] for key in queries.keys().values())
            )

    def check_teams(self, teams: Collection[str]) -> None:
        """Raise NotFound naming each team that has no stored series."""
        unknown = sorted(set(teams) - self.teams())
        if unknown:
            names = ", ".join(repr(team) for team in unknown)
            raise NotFound(f"no team {names} is stored (GET /api/v1/resources lists the teams)")

    def _view(self, window: Window | None) -> DataView:
        """Return the view of every team of a window, cached per data version."""
        window = self.resolve(window)
        state = self.store.state()
        self.guard.in_force(state)
        cached: DataView | None = self._cache.peek(("view", window), state.data_version)
        if cached is not None:
            return cached
        with self.store.read() as queries:
            state = queries.state()
            policy = self.guard.in_force(state)
            return self._cache.get(
                ("view", window),
                state.data_version,
                lambda: self._compute_view(queries, state.data_version, window, policy),
            )

    def _compute_view(
        self, queries: StoreQueries, version: int, window: Window, policy: Policy
    ) -> DataView:
        model = self._all_time if window == ALL_TIME else self._window_model(window)
        kept = model.view(queries, queries.state(), policy)
        money = (kept.costs, kept.deleted)
        return DataView(version, window, kept.stats, kept.rows, money, kept.teams)

    def _window_model(self, window: Window) -> ViewModel:
        """Return the kept view of a window, the least recently read one making room."""
        with self._windows_lock:
            model = self._windows.get(window)
            if model is None:
                model = self._windows[window] = ViewModel(
                    self._prices_in_force, window_changes(window)
                )
                while len(self._windows) > KEPT_WINDOWS:
                    self._windows.popitem(last=False)
            self._windows.move_to_end(window)
            return model

    def _prices_in_force(self, queries: StoreQueries) -> PriceList:
        """Return the prices in force of a snapshot, re-read only when a list changed."""
        version = queries.state().prices_version
        cached = self._prices
        if cached is not None and cached[0] == version:
            return cached[1]
        prices = prices_in_force(queries.price_lists(), self.source_order)
        self._prices = (version, prices)
        return prices

    def rows(
        self, window: Window | None = None, teams: Collection[str] | None = None
    ) -> list[AnalyticsRow]:
        """Return every analytics row of the window (of some teams), classified and priced."""
        return self.view(window, teams).rows

    def costs_total(
        self, window: Window | None = None, teams: Collection[str] | None = None
    ) -> CostSummary:
        """Return total cost per resource, per team and overall (of some teams)."""
        return self.view(window, teams).costs

    def costs_deleted(
        self, window: Window | None = None, teams: Collection[str] | None = None
    ) -> DeletedCosts:
        """Return the money spent on what is to be deleted (by some teams)."""
        return self.view(window, teams).deleted

    def report(self, window: Window | None = None, teams: Collection[str] | None = None) -> Report:
        """Return the full report of the window (of some teams)."""
        return self.report_of(self.view(window, teams))

    def report_of(self, view: DataView) -> Report:
        """Return the full report of a view."""
        return Report(
            view.rows, view.costs, view.deleted, self.currency, self.clock(), view.window,
            self.contacts,
        )  # fmt: skip

    def focus_export(
        self, window: Window | None = None, teams: Collection[str] | None = None
    ) -> FocusExport:
        """Return the window's costs (of some teams) as a FOCUS 1.2 dataset (rendered as it
        is read)."""
        view = self.view(window, teams)
        return FocusExport(view.rows, view.window, self.currency, self.focus)

    def changes(self, since: datetime, teams: Collection[str] | None = None) -> Changes:
        """Say what changed since a moment: the decisions that moved (from, to, when, why),
        the series that are new or gone, and the money on what is to be deleted then and
        now, per team and overall (of some teams, if named).

        Now is the default window (``USAGELENS_WINDOW``, else everything stored); then is
        the same window ending at ``since``: everything collected before it, or the same
        span before it. Both ends are computed from the stored observations; when the
        store's decision history recorded a change, its time is the change's ``when``.
        """
        since = as_utc(since)
        now = self.resolve(None)
        moment = self.clock().replace(second=0, microsecond=0)
        if since >= moment:
            raise InvalidInput("since must be in the past (7d: a week ago)")
        then = (
            Window(until=since)
            if now.since is None
            else Window(since - (moment - now.since), since)
        )
        before, after = self.view(then, teams), self.view(now, teams)
        found = diff_rows(since, before.rows, after.rows, before.deleted, after.deleted)
        found = replace(found, window_before=before.window, window_after=after.window)
        if not found.decisions:
            return found
        with self.store.read() as queries:
            ids = {key: sid for sid, key in queries.keys().items()}
            dated = []
            for change in found.decisions:
                sid = ids.get(change.key)
                events = [] if sid is None else queries.recommendation_events(sid)
                times = [
                    as_utc(e.at)
                    for e in events
                    if e.kind == "decision"
                    and (e.before, e.after) == (change.before, change.after)
                    and as_utc(e.at) >= since
                ]
                dated.append(replace(change, when=max(times)) if times else change)
        return replace(found, decisions=dated)

    def policy_diff(self, candidate: Policy, window: Window | None = None) -> PolicyDiff:
        """Tell which rows ``candidate`` would decide otherwise, and the money; store nothing."""
        return diff_policy(self.view(window).rows, candidate)

    def cached(
        self,
        key: Hashable,
        compute: Callable[[DataView], T],
        window: Window | None = None,
        teams: Collection[str] | None = None,
    ) -> T:
        """Return something derived from a window's view (of some teams: a rendering),
        cached per version."""
        window = self.resolve(window)
        scope = team_scope(teams)
        state = self.store.state()
        self.guard.in_force(state)
        hit: T | None = self._cache.peek((key, window, scope), state.data_version)
        if hit is not None:
            return hit
        view = self.view(window, scope)
        return self._cache.get((key, view.window, scope), view.version, lambda: compute(view))

    def forget(self) -> None:
        """Drop every cached result (after a rebuild changed the policy in force)."""
        self._cache.clear()
        self._all_time.forget()
        with self._windows_lock:
            self._windows.clear()

    def data_version(self) -> int:
        """Return the store's data version (it grows with every change)."""
        return self.store.state().data_version

    def ready(self) -> None:
        """Raise StorageUnavailable unless the database answers."""
        self.store.ping()

    def metrics_state(self) -> MetricsState:
        """Read what a scrape shows besides the data: pushes, counters, last refresh."""
        with self.store.read() as queries:
            return MetricsState(queries.push_state(), queries.counters(), queries.refresh_status())

    def batches(self, limit: int = 20) -> list[BatchRecord]:
        """Return the newest ingest batches (the audit trail), newest first."""
        with self.store.read() as queries:
            return queries.batches(limit)

    def series_readings(
        self, key: SeriesKey, window: Window | None = None
    ) -> list[tuple[datetime, float]]:
        """Return one series' observations within a window in time order (none if unknown)."""
        window = self.resolve(window)
        with self.store.read() as queries:
            ids = [sid for sid, known in queries.keys().items() if known == key]
            readings = queries.readings(ids[0]) if ids else []
        since = None if window.since is None else to_micros(window.since)
        until = None if window.until is None else to_micros(window.until)
        return [
            (from_micros(t), usage)
            for t, usage in readings
            if (since is None or t >= since) and (until is None or t < until)
        ]


__all__ = ["DataView", "MetricsState", "Queries", "Teams", "scoped", "team_scope"]
