"""Recommendations: the delete and extend rows of the read model, with the states people
give them, their evidence, their history, exclusion rules, and what a digest has posted.

A state is stored for the decision it was set for: when a row's decision changes, the row
is active again (the old state stays in the history). Moves a person makes and the moves
time makes (a snooze running out, a claimed deletion succeeding or failing) are written
with their history and advance the data version, so every worker, report and scrape agrees.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

from usagelens.app.collector import collector_paused
from usagelens.app.policy import PolicyGuard
from usagelens.app.queries import KEPT_WINDOWS, Queries
from usagelens.domain.analytics import AnalyticsRow
from usagelens.domain.batch import from_micros
from usagelens.domain.errors import InvalidInput, NotFound
from usagelens.domain.ids import check_name
from usagelens.domain.model import Decision, Dimension, SeriesKey, Window
from usagelens.domain.recommendations import (
    RECOMMENDED,
    Exclusion,
    Lifecycle,
    Recommendation,
    State,
    StoredState,
    Tally,
    check_move,
    combine_tallies,
    effective_state,
    recommendation_id,
    tally,
)
from usagelens.domain.series import SeriesAggregate
from usagelens.domain.times import as_utc
from usagelens.ports import (
    Clock,
    RecommendationEvent,
    SeriesSpan,
    Store,
    StoreQueries,
    UnitOfWork,
)

HISTORY_KEPT = 100
"""Events kept per series (the oldest go first)."""


@dataclass(frozen=True, slots=True)
class Filters:
    """Which recommendations a list shows (None: any)."""

    state: State | None = None
    decision: Decision | None = None
    teams: Collection[str] | None = None
    """Only these teams (None or empty: every team)."""
    dimension: Dimension | None = None
    text: str | None = None
    """A part of the team or the resource, in any case."""

    def keeps(self, item: Recommendation) -> bool:
        """Tell whether a recommendation passes every filter."""
        row = item.row
        needle = (self.text or "").casefold()
        return (
            (self.state is None or item.state is self.state)
            and (self.decision is None or row.decision is self.decision)
            and (not self.teams or row.team in self.teams)
            and (self.dimension is None or row.dimension is self.dimension)
            and (not needle or needle in row.team.casefold() or needle in row.resource.casefold())
        )


class SpanIndex:
    """Every series' id, span and last arrival by key, advanced by the series changed since
    the version last read (an index range), not read whole: at 50,400 series the whole
    read was 370-480 ms of every recommendations read, and so of each scrape after a write.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version = -1
        self._spans: dict[SeriesKey, SeriesSpan] = {}
        self._teams: dict[int, str] = {}
        """Series id → team (a series' key never changes)."""

    def read(self, queries: StoreQueries) -> dict[SeriesKey, SeriesSpan]:
        """Return the spans as the snapshot holds them (a copy, safe to keep)."""
        version = queries.state().data_version
        with self._lock:
            if version < self._version:  # a slow reader's older snapshot: read it whole
                return queries.spans()
            if version > self._version:
                changed = queries.spans(after=self._version)
                self._spans.update(changed)
                self._teams.update((span.id, key[0]) for key, span in changed.items())
                self._version = version
            return dict(self._spans)

    def teams_of(self, ids: Iterable[int]) -> set[str]:
        """Return the teams of these series (those read so far)."""
        with self._lock:
            return {self._teams[sid] for sid in ids if sid in self._teams}


_Made = tuple[AnalyticsRow, SeriesSpan, Recommendation]


@dataclass(frozen=True, slots=True)
class _TeamMade:
    """What was made of one team's rows: re-used whole while the view hands over the same
    rows list (none of them changed) and no state of the team is set by hand."""

    rows: list[AnalyticsRow] | None
    """The rows list it was made of; None: a state was set by hand (never re-used whole)."""
    made: dict[int, _Made]
    """The recommendations that depend on their row and span alone, by the row's id."""
    items: list[Recommendation]
    tally: Tally | None


class Recommendations:
    """List, move and summarise recommendations; keep exclusion rules and the digest."""

    def __init__(
        self,
        store: Store,
        guard: PolicyGuard,
        clock: Clock,
        queries: Queries,
        lifecycle: Lifecycle | None = None,
    ) -> None:
        self.store = store
        self.guard = guard
        self.clock = clock
        self.queries = queries
        self.lifecycle = lifecycle or Lifecycle()
        self._spans = SpanIndex()
        self._made: dict[Window, tuple[list[Exclusion], dict[str, _TeamMade]]] = {}
        """Per window, the exclusion rules and what was made of each team's rows."""

    # Reads ---------------------------------------------------------------------------

    def items(
        self, window: Window | None = None, filters: Filters | None = None
    ) -> list[Recommendation]:
        """Return the recommendations of a window's rows, in report order, filtered."""
        keep = filters or Filters()
        if keep.teams:
            self.queries.check_teams(keep.teams)
        return [item for item in self._all(window) if keep.keeps(item)]

    def get(self, rec_id: str) -> tuple[Recommendation, list[RecommendationEvent]]:
        """Return one recommendation and its history (state and decision changes)."""
        item = self._find(rec_id)
        with self.store.read() as queries:
            span = queries.spans()[(item.row.team, item.row.resource, item.row.dimension)]
            history = queries.recommendation_events(span.id)
        return item, history

    def summary(
        self, window: Window | None = None, teams: Collection[str] | None = None
    ) -> dict[str, object]:
        """Return the money by state and the count of recommendations per state and decision,
        of all of them and of those with enough data (of some teams, if named)."""
        if teams:
            mine = groupby(self.items(window, Filters(teams=teams)), lambda i: i.row.team)
            total = combine_tallies(tally(list(items)) for _, items in mine)
        else:
            total = combine_tallies(self._made_now(window)[1])

        def by_state(counts: Mapping[tuple[State, Decision], int]) -> dict[str, dict[str, int]]:
            return {
                state.value: {d.value: counts[(state, d)] for d in RECOMMENDED} for state in State
            }

        return {
            "currency": self.queries.currency,
            "money": total.money,
            "counts": by_state(total.counts),
            "counts_enough_data": by_state(total.with_data),
        }

    def exclusions(self) -> list[Exclusion]:
        """Return every exclusion rule."""
        with self.store.read() as queries:
            return queries.exclusions()

    def new_candidates(self, window: Window | None = None) -> list[Recommendation]:
        """Return the active delete candidates with enough data no digest has posted yet."""
        with self.store.read() as queries:
            sent = queries.digested()
        return [
            item
            for item in self._all(window)
            if item.state is State.ACTIVE
            and item.row.decision is Decision.DELETE
            and item.evidence.enough_data
            and (item.id, item.row.decision.value) not in sent
        ]

    def _all(self, window: Window | None) -> list[Recommendation]:
        return self._made_now(window)[0]

    def _made_now(self, window: Window | None) -> tuple[list[Recommendation], list[Tally]]:
        """The recommendations of a window's rows and each team's tally, in report order."""
        view = self.queries.view(window)
        now = self.clock()
        with collector_paused():  # the spans after a write of every series are 50,000 rows
            with self.store.read() as queries:
                spans = self._spans.read(queries)
                stored = queries.recommendation_states()
                exclusions = queries.exclusions()
            by_hand = self._spans.teams_of(stored)
            return self._items(view.window, view.by_team, spans, stored, by_hand, exclusions, now)

    def _items(
        self,
        window: Window,
        teams: Sequence[tuple[str, list[AnalyticsRow]]],
        spans: Mapping[SeriesKey, SeriesSpan],
        stored: Mapping[int, StoredState],
        by_hand: set[str],
        exclusions: list[Exclusion],
        now: datetime,
    ) -> tuple[list[Recommendation], list[Tally]]:
        """Make the recommendations of each team's rows, in report order, and each team's
        tally. A recommendation with no state set by hand depends on its row and span
        alone, not on the clock, while the exclusion rules are the same: a team none of
        whose rows changed (the view hands over the same list) and none of whose states
        is set by hand is taken whole, recommendations and tally, so a read after a write
        costs the teams it changed; in the other teams a recommendation is re-used where
        its row and span are the same objects (the read model keeps them for a series
        that did not change)."""
        rules, before = self._made.get(window, ([], {}))
        if rules != exclusions:
            before = {}
        made: dict[str, _TeamMade] = {}
        tallies: list[Tally] = []
        items: list[Recommendation] = []
        for team, rows in teams:
            part = before.get(team)
            if part is None or part.rows is not rows or team in by_hand:
                kept, mine = self._team_items(
                    rows, part.made if part else {}, spans, stored, exclusions, now
                )
                whole = None if team in by_hand else rows
                part = _TeamMade(whole, kept, mine, tally(mine) if mine else None)
            made[team] = part
            items += part.items
            if part.tally is not None:
                tallies.append(part.tally)
        if len(self._made) > KEPT_WINDOWS and window not in self._made:
            self._made.clear()  # all time and the windows the read model keeps
        self._made[window] = (list(exclusions), made)
        return items, tallies

    def _team_items(
        self,
        rows: Sequence[AnalyticsRow],
        made: Mapping[int, _Made],
        spans: Mapping[SeriesKey, SeriesSpan],
        stored: Mapping[int, StoredState],
        exclusions: list[Exclusion],
        now: datetime,
    ) -> tuple[dict[int, _Made], list[Recommendation]]:
        """Make the recommendations of one team's rows, re-using ``made`` where a row and
        its span are the objects it was made of and no state is set by hand."""
        kept: dict[int, _Made] = {}
        items: list[Recommendation] = []
        for row in rows:
            if row.decision not in RECOMMENDED or row.evidence is None:
                continue  # every row of a view has its evidence
            key: SeriesKey = (row.team, row.resource, row.dimension)
            span = spans.get(key)
            if span is None:
                continue
            set_by_hand = stored.get(span.id)
            if set_by_hand is None:
                earlier = made.get(id(row))
                if earlier is not None and earlier[0] is row and earlier[1] is span:
                    kept[id(row)] = earlier
                    items.append(earlier[2])
                    continue
            arrival = _moment(span.last_arrival) if set_by_hand is not None else None
            state, applied, excluded = effective_state(
                row, set_by_hand, exclusions, arrival, now, self.lifecycle
            )  # the last arrival matters only to a state someone set
            item = Recommendation(
                id=recommendation_id(key),
                row=row,
                evidence=row.evidence,
                state=state,
                state_reason=_reason(state, applied, excluded, exclusions),
                until=applied.until if applied is not None else None,
                by=applied.by if applied is not None else "",
                changed_at=applied.changed_at if applied is not None else None,
                exclusion=excluded,
            )
            items.append(item)
            if set_by_hand is None:
                kept[id(row)] = (row, span, item)
        return kept, items

    def _find(self, rec_id: str) -> Recommendation:
        for item in self._all(None):
            if item.id == rec_id:
                return item
        raise NotFound(f"no recommendation {rec_id!r}: its row is not a delete or extend now")

    # Moves ---------------------------------------------------------------------------

    def move(
        self,
        rec_id: str,
        wanted: State,
        *,
        reason: str = "",
        until: datetime | None = None,
        by: str = "",
    ) -> Recommendation:
        """Move one recommendation to another state, with its reason; answer it moved.

        ``until`` ends a dismissal (a snooze). A move the lifecycle does not allow is
        refused, naming the allowed ones; ``excluded`` follows the exclusion rules only.
        """
        _check_text(reason, "reason", 2000)
        _check_text(by, "by", 200)
        if until is not None and wanted is not State.DISMISSED:
            raise InvalidInput("until goes with the state dismissed (a snooze)")
        now = self.clock()
        if until is not None and until <= now:
            raise InvalidInput("until must be in the future")
        item = self._find(rec_id)
        check_move(item.state, wanted)
        with self.store.write() as uow:
            self.guard.writable(uow)
            span = uow.read.spans()[(item.row.team, item.row.resource, item.row.dimension)]
            stored = StoredState(item.row.decision, wanted, reason, until, by, now)
            uow.recommendations.set_state(span.id, stored)
            uow.recommendations.add_events(
                [RecommendationEvent(span.id, now, "state", item.state.value, wanted.value,
                                     reason, by)],
                keep=HISTORY_KEPT,
            )  # fmt: skip
            uow.state.bump()
            uow.commit()
        return self._find(rec_id)

    def settle(self) -> int:
        """Write down the moves time has made (snoozes ended, claimed deletions succeeded or
        failed, states of a decision that changed); return how many."""
        with self.store.read() as queries:
            stored = queries.recommendation_states()
        if not stored:  # nothing set by hand: nothing for time to move (the common case)
            return 0
        items = self._all(None)
        now = self.clock()
        with collector_paused(), self.store.read() as queries:
            spans = self._spans.read(queries)
        moves: list[tuple[int, StoredState | None, RecommendationEvent]] = []
        after: StoredState | None
        current = {(i.row.team, i.row.resource, i.row.dimension): i for i in items}
        for key, span in spans.items():
            before = stored.get(span.id)
            if before is None:
                continue
            item = current.get(key)
            if item is None or item.row.decision is not before.decision:
                reason = "the decision changed"
                event = RecommendationEvent(
                    span.id, now, "state", before.state.value, State.ACTIVE.value, reason, ""
                )
                moves.append((span.id, None, event))
            elif item.state is not before.state and item.state is not State.EXCLUDED:
                reason = _automatic(item.state)
                after = StoredState(before.decision, item.state, reason, None, "", now)
                event = RecommendationEvent(
                    span.id, now, "state", before.state.value, item.state.value, reason, ""
                )
                moves.append((span.id, None if item.state is State.ACTIVE else after, event))
        if not moves:
            return 0
        with self.store.write() as uow:
            for series_id, after, _ in moves:
                if after is None:
                    uow.recommendations.clear_state(series_id)
                else:
                    uow.recommendations.set_state(series_id, after)
            uow.recommendations.add_events([event for *_, event in moves], keep=HISTORY_KEPT)
            uow.state.bump()
            uow.commit()
        return len(moves)

    # Exclusions and the digest -------------------------------------------------------

    def exclude(
        self, team: str, resource: str, dimension: Dimension | None, reason: str
    ) -> Exclusion:
        """Add an exclusion rule (fnmatch globs on team and resource, maybe a dimension)."""
        check_name(team, "team glob")
        check_name(resource, "resource glob")
        _check_text(reason, "reason", 2000)
        with self.store.write() as uow:
            self.guard.writable(uow)
            rule_id = uow.recommendations.add_exclusion(
                team, resource, dimension, reason, self.clock()
            )
            uow.state.bump()
            uow.commit()
        return Exclusion(rule_id, team, resource, dimension, reason)

    def drop_exclusion(self, rule_id: int) -> None:
        """Remove an exclusion rule (NotFound if there is none by that id)."""
        with self.store.write() as uow:
            self.guard.writable(uow)
            if not uow.recommendations.drop_exclusion(rule_id):
                raise NotFound(f"no exclusion rule {rule_id}")
            uow.state.bump()
            uow.commit()

    def mark_digested(self, items: Sequence[Recommendation]) -> list[Recommendation]:
        """Remember that a digest posts these; return those no digest had claimed before
        (so that two digests at once never post the same candidate)."""
        if not items:
            return []
        with self.store.write() as uow:
            new = set(
                uow.recommendations.mark_digested(
                    [(item.id, item.row.decision.value) for item in items], self.clock()
                )
            )
            uow.commit()
        return [item for item in items if (item.id, item.row.decision.value) in new]

    def unmark_digested(self, items: Sequence[Recommendation]) -> None:
        """Forget that a digest claimed these (its post failed: the next one tries again)."""
        with self.store.write() as uow:
            uow.recommendations.unmark_digested(
                [(item.id, item.row.decision.value) for item in items]
            )
            uow.commit()


def export_document(queries: StoreQueries) -> dict[str, object]:
    """Return what recommendations keep, by series key, for ``Maintenance.export``."""
    spans = queries.spans()
    keys = {span.id: key for key, span in spans.items()}

    def series(sid: int) -> list[str]:
        team, resource, dimension = keys[sid]
        return [team, resource, dimension.value]

    by_key = sorted(keys, key=series)  # ids differ between stores; keys do not
    return {
        "states": [
            {"series": series(sid), "decision": s.decision.value, "state": s.state.value,
             "reason": s.reason, "until": _iso(s.until), "by": s.by,
             "changed_at": _iso(s.changed_at)}
            for sid, s in sorted(queries.recommendation_states().items(),
                                 key=lambda item: series(item[0]))
        ],
        "history": [
            {"series": series(sid), "at": _iso(e.at), "kind": e.kind, "from": e.before,
             "to": e.after, "reason": e.reason, "by": e.by}
            for sid in by_key
            for e in queries.recommendation_events(sid)
        ],
        "exclusions": [
            {"team": r.team, "resource": r.resource,
             "dimension": None if r.dimension is None else r.dimension.value, "reason": r.reason}
            for r in queries.exclusions()
        ],
        "digested": sorted(list(pair) for pair in queries.digested()),
        "arrivals": [
            [*series(sid), spans[keys[sid]].last_arrival]
            for sid in by_key
            if spans[keys[sid]].last_arrival is not None
        ],
    }  # fmt: skip


def restore_document(uow: UnitOfWork, document: object, at: datetime, version: int) -> None:
    """Write an export's recommendations into the store it was imported into, as a change
    at data ``version`` (the arrival times it restores change their series)."""
    if document is None:
        return
    try:
        assert isinstance(document, dict)
        ids = {key: span.id for key, span in uow.read.spans().items()}

        def sid(value: object) -> int:
            assert isinstance(value, list)
            assert len(value) == 3
            return ids[(str(value[0]), str(value[1]), Dimension(value[2]))]

        for entry in document.get("states", []):
            uow.recommendations.set_state(
                sid(entry["series"]),
                StoredState(
                    Decision(entry["decision"]), State(entry["state"]), str(entry["reason"]),
                    _parsed(entry["until"]), str(entry["by"]),
                    _parsed(entry["changed_at"]) or at,
                ),
            )  # fmt: skip
        uow.recommendations.clear_history()
        events = [
            RecommendationEvent(
                sid(e["series"]),
                _parsed(e["at"]) or at,
                str(e["kind"]),
                e["from"],
                str(e["to"]),
                str(e["reason"]),
                str(e["by"]),
            )
            for e in document.get("history", [])
        ]
        uow.recommendations.add_events(events, keep=HISTORY_KEPT)
        for rule in document.get("exclusions", []):
            dimension = None if rule["dimension"] is None else Dimension(rule["dimension"])
            uow.recommendations.add_exclusion(
                str(rule["team"]), str(rule["resource"]), dimension, str(rule["reason"]), at
            )
        uow.recommendations.mark_digested(
            [(str(r), str(d)) for r, d in document.get("digested", [])], at
        )
        uow.recommendations.set_arrivals(
            {sid(entry[:3]): int(entry[3]) for entry in document.get("arrivals", [])}, version
        )
    except (AssertionError, KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"recommendations: not what an export holds ({exc!r})") from None


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _parsed(text: object) -> datetime | None:
    return None if text is None else as_utc(datetime.fromisoformat(str(text)))


def record_decisions(uow: UnitOfWork, aggregates: Iterable[SeriesAggregate], at: datetime) -> None:
    """Write, in the writing unit of work, every decision the judged aggregates changed."""
    events = []
    for aggregate in aggregates:
        change = aggregate.decision_change()
        if change is not None:
            before, after = change
            reason = aggregate.verdict.reason if aggregate.verdict is not None else ""
            events.append(
                RecommendationEvent(
                    aggregate.id, at, "decision", before.value if before else None,
                    after.value, reason, "",
                )
            )  # fmt: skip
    uow.recommendations.add_events(events, keep=HISTORY_KEPT)


def _moment(micros: int | None) -> datetime | None:
    return None if micros is None else from_micros(micros)


def _reason(
    state: State, applied: StoredState | None, excluded: int | None, rules: Iterable[Exclusion]
) -> str:
    if excluded is not None:
        rule = next(r for r in rules if r.id == excluded)
        return f"exclusion {rule.id}: {rule.reason}" if rule.reason else f"exclusion {rule.id}"
    if applied is None:
        return ""
    if state is not applied.state:
        return _automatic(state)
    return applied.reason


def _automatic(state: State) -> str:
    return {
        State.SUCCEEDED: "no new observation for USAGELENS_SUCCESS_AFTER since the claim",
        State.FAILED: "observations kept arriving past USAGELENS_FAIL_AFTER after the claim",
        State.ACTIVE: "the snooze ended",
    }.get(state, "")


def _check_text(value: str, what: str, limit: int) -> None:
    if len(value) > limit or "\x00" in value:
        raise InvalidInput(f"{what} is longer than {limit} characters or holds a NUL")


__all__ = ["HISTORY_KEPT", "Filters", "Recommendations", "record_decisions"]
