"""A stored series and how a payload changes it, decided without I/O.

``merge`` compares one series' readings in a payload with the stored values of the same
times and says what to insert, what to replace and how the series' distribution moves.
``SeriesAggregate`` is what the store keeps per series so that every number the service
shows is updated by those moves alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from usagelens.domain.batch import SeriesReadings
from usagelens.domain.distribution import Distribution, SeriesStats
from usagelens.domain.model import Decision, SeriesKey
from usagelens.domain.policy import Classification, Policy


def _tally(usages: Sequence[float]) -> dict[float, int]:
    """Count each value (a one-reading series, the common new hour, without a Counter)."""
    if len(usages) == 1:
        return {usages[0]: 1}
    return dict(Counter(usages))


@dataclass(slots=True)
class SeriesMerge:
    """What one payload does to one series."""

    inserts: SeriesReadings | list[tuple[int, float]] = field(default_factory=list)
    """(time, usage) of times the store does not hold yet: the readings themselves when
    the store holds none of their times and no time repeats (no copy of a big payload)."""
    updates: list[tuple[int, float]] = field(default_factory=list)
    """(time, new usage) of stored times whose value changes."""
    deltas: dict[float, int] = field(default_factory=dict)
    """Observations gained (positive) or lost (negative) per usage value."""
    inserted: int = 0
    updated: int = 0
    duplicates: int = 0

    @property
    def changed(self) -> bool:
        """Tell whether anything is to be written."""
        return bool(self.inserts or self.updates)

    def inserted_span(self) -> tuple[int, int] | None:
        """Return the earliest and latest inserted time, None if nothing is inserted."""
        if not self.inserts:
            return None
        if isinstance(self.inserts, SeriesReadings):
            return min(self.inserts.times), max(self.inserts.times)
        return min(t for t, _ in self.inserts), max(t for t, _ in self.inserts)


def merge(
    readings: SeriesReadings,
    differing: Mapping[int, float | None] | None,
    latest: Mapping[int, float] | None = None,
) -> SeriesMerge:
    """Decide a series' part of a payload.

    ``differing`` holds the times whose stored value is not the payload's last value for
    that time, with the stored usage (None: not stored), or is None itself when the store
    holds none of the times. ``latest`` is the payload's last value per time
    (``readings.latest()``), if the caller has it already.
    Every reading counts once: inserted (a new time), updated (a time that held another
    value, in the store or earlier in the payload) or duplicate (the same value again).
    """
    result = SeriesMerge()
    repeats = len(latest) != len(readings) if latest is not None else readings.repeats()
    if repeats:
        seen: dict[int, float] = {}
        for micros, usage in zip(readings.times, readings.usages, strict=True):
            previous = seen.get(micros)
            if previous is not None:
                if previous == usage:
                    result.duplicates += 1
                else:
                    result.updated += 1
            seen[micros] = usage
    deltas = result.deltas
    if differing is None and not repeats:
        result.inserts = readings
        result.inserted += len(readings)
        result.deltas = _tally(readings.usages)
        return result
    if latest is None:
        latest = readings.latest()
    if differing is None:
        result.inserts = list(latest.items())
        result.inserted += len(latest)
        for usage in latest.values():
            deltas[usage] = deltas.get(usage, 0) + 1
        return result
    result.duplicates += len(latest) - len(differing)
    inserts: list[tuple[int, float]] = []
    for micros, before in differing.items():
        usage = latest[micros]
        if before is None:
            inserts.append((micros, usage))
            result.inserted += 1
        else:
            result.updates.append((micros, usage))
            result.updated += 1
            deltas[before] = deltas.get(before, 0) - 1
        deltas[usage] = deltas.get(usage, 0) + 1
    result.inserts = inserts
    return result


def differences(
    latest: Mapping[int, float], stored: Mapping[int, float]
) -> dict[int, float | None]:
    """Return the times whose stored value (None: not stored) differs from ``latest``'s."""
    if stored == latest:  # a re-sent payload
        return {}
    found: dict[int, float | None] = {}
    for micros, usage in latest.items():
        before = stored.get(micros)
        if before != usage:
            found[micros] = before
    return found


@dataclass(slots=True)
class SeriesAggregate:
    """One stored series: its distribution, time span, statistics and verdict."""

    id: int
    key: SeriesKey
    distribution: Distribution = field(default_factory=Distribution)
    first: int | None = None
    """Earliest stored time (microseconds), None while empty."""
    last: int | None = None
    """Latest stored time (microseconds), None while empty."""
    stats: SeriesStats | None = None
    verdict: Classification | None = None
    version: int = 0
    """The data version of the series' last change (0: not recorded)."""
    rewritten: int = 0
    """The data version of its last change other than appending times after its latest
    (an update, an insert within its span, a prune): since then, a reader that knew the
    series needs only the observations after the latest time it knew."""
    stored_decision: Decision | None = None
    """The decision stored before this write (what a decision change is measured from)."""
    last_arrival: int | None = None
    """When a write last added observations (the server's clock, µs)."""

    def decision_change(self) -> tuple[Decision | None, Decision] | None:
        """Return (before, after) if judging changed the decision, and take it as stored."""
        after = self.verdict.decision if self.verdict is not None else None
        before = self.stored_decision
        self.stored_decision = after
        if after is None or after is before:
            return None
        return before, after

    def holds_any(self, times: Iterable[int]) -> bool:
        """Tell whether some of these times may already be stored (within the span)."""
        if self.first is None or self.last is None:
            return False
        first, last = self.first, self.last
        return any(first <= t <= last for t in times)

    def add(self, change: SeriesMerge, version: int) -> None:
        """Take in a merge's inserted times and value deltas as the change of data
        ``version`` (call ``judge`` afterwards)."""
        self.distribution.apply(change.deltas)
        appended = not change.updates
        if span := change.inserted_span():
            low, high = span
            appended = appended and (self.last is None or low > self.last)
            self.first = low if self.first is None else min(self.first, low)
            self.last = high if self.last is None else max(self.last, high)
        self.version = version
        if not appended:
            self.rewritten = version

    def remove(
        self, removed: Mapping[float, int], first: int | None, last: int | None, version: int
    ) -> None:
        """Take out pruned observations (value → count) as the change of data ``version``;
        the store tells the new span."""
        self.distribution.apply({value: -count for value, count in removed.items()})
        self.first, self.last = first, last
        self.version = self.rewritten = version

    def judge(self, policy: Policy) -> None:
        """Recompute statistics and verdict from the distribution."""
        if not self.distribution.count:
            self.stats = self.verdict = None
            self.first = self.last = None
            return
        self.stats = self.distribution.stats()
        self.verdict = policy.judge(self.stats.count, self.stats.mean, self.stats.median)


@dataclass(slots=True)  # read-only by convention: frozen construction costs 2.5× per row
class SeriesSummary:
    """What reads need of a non-empty series: statistics and verdict, no distribution."""

    key: SeriesKey
    stats: SeriesStats
    verdict: Classification
    first: int | None = None
    last: int | None = None
    """The earliest and latest stored collected_at (µs, the data's clock)."""
