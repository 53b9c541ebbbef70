"""The streaming parsers' fast path: well-formed pieces added to a batch in bulk.

A piece is split into columns (``str.split`` and slices for the text format, item
getters for the JSON form); each distinct id, timestamp and usage is checked once by the
field rules and remembered. Anything unusual makes the fast path decline the piece, and
the precise parser, the single authority on what is accepted and on every error
message, reads it instead.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from datetime import datetime
from itertools import compress, pairwise
from operator import itemgetter, ne
from typing import Any, TypeVar, cast

from usagelens.domain.batch import SeriesReadings, UsageBatch, to_micros
from usagelens.domain.errors import SummaryFormatError
from usagelens.domain.model import Observation, SeriesKey
from usagelens.domain.summary.fields import (
    DIMENSIONS,
    NOWHERE,
    check_id,
    parse_timestamp,
    parse_usage,
)

CACHE_LIMIT = 1 << 14
"""Distinct ids or timestamps remembered before a cache starts over (bounds memory)."""
_K = TypeVar("_K")
_V = TypeVar("_V")
_JSON_COLUMNS = tuple(map(itemgetter, ("team", "resource", "dimension", "collected_at", "usage")))


class Collector:
    """Fill a batch from columns a fast path split off, or from parsed observations.

    Every distinct raw id, timestamp and usage is checked once, by the precise rules, and
    remembered; a piece with anything those rules reject is left to the precise parser.
    """

    def __init__(self) -> None:
        self.batch = UsageBatch()
        self._ids: dict[object, str] = {}  # raw team or resource -> checked id
        self._micros: dict[object, int] = {}  # raw collected_at -> microseconds
        self._usages: dict[str, float] = {}  # raw usage text -> percent
        self.moments: dict[str, datetime] = {}  # raw collected_at -> moment, precise parser

    def add_observations(self, observations: Sequence[Observation]) -> int:
        """Add observations the precise parser made (with ``moments``); return how many."""
        add = self.batch.add
        for obs in observations:
            add((obs.team, obs.resource, obs.dimension), to_micros(obs.collected_at), obs.usage)
        if len(self.moments) > CACHE_LIMIT:
            self.moments.clear()
        return len(observations)

    def add_text_records(self, segment: str, team: str) -> int:
        """Add well-formed ``(r,d,t,u);(...)`` records in bulk; return how many, 0 if unsure."""
        segment = segment.strip()
        if segment[:1] != "(" or segment[-1:] != ")":
            return 0
        body = segment[1:-1]
        marked = body.replace(");(", ",;;,")  # one character longer per record boundary
        n = len(marked) - len(body) + 1
        fields = marked.split(",")
        # A ';;' column at every fifth place: four fields per record. Fields are checked
        # below and cannot hold ';', '(' or ')', so every ';' was a ');(' boundary.
        if len(fields) != 5 * n - 1 or fields[4::5].count(";;") != n - 1:
            return 0
        resources, dimensions, times = fields[0::5], fields[1::5], fields[2::5]
        runs = _runs(n, resources, dimensions)
        heads = runs[:-1]
        if not self._known_ids([resources[i] for i in heads]):
            return 0
        if not DIMENSIONS.keys() >= {dimensions[i] for i in heads}:
            return 0
        usages = self._text_usages(fields[3::5])
        micros = self._timestamps(times)
        if usages is None or micros is None:
            return 0
        ids, series = self._ids, self.batch.series
        for start, end in pairwise(runs):
            key = (team, ids[resources[start]], DIMENSIONS[dimensions[start]])
            _readings(series, key, micros[start:end], usages[start:end])
        self.batch.observations += n
        return n

    def add_items(self, items: list[object]) -> bool:
        """Add well-formed observation objects in bulk; False if unsure."""
        n, rows = len(items), cast(list[Any], items)
        try:
            if set(map(len, rows)) != {5}:
                return False
            teams, resources, dimensions, times, raw_usages = (
                list(map(column, rows)) for column in _JSON_COLUMNS
            )
            runs = _runs(n, teams, resources, dimensions)
            heads = runs[:-1]
            if not self._known_ids([teams[i] for i in heads] + [resources[i] for i in heads]):
                return False
            if not DIMENSIONS.keys() >= {dimensions[i] for i in heads}:
                return False
            if not {int, float}.issuperset(map(type, raw_usages)):
                return False
            usages = _usages_in_range(list(map(float, raw_usages)))
            micros = self._timestamps(times)
        except (TypeError, KeyError, OverflowError):
            return False
        if usages is None or micros is None:
            return False
        ids, series = self._ids, self.batch.series
        for start, end in pairwise(runs):
            key = (ids[teams[start]], ids[resources[start]], DIMENSIONS[dimensions[start]])
            _readings(series, key, micros[start:end], usages[start:end])
        self.batch.observations += n
        return True

    def _known_ids(self, values: list[object]) -> bool:
        ids = self._ids
        if len(ids) > CACHE_LIMIT:
            ids.clear()
        for value in values:
            if value in ids:
                continue
            if not isinstance(value, str):
                return False
            try:
                ids[value] = check_id(value.strip(), "resource", NOWHERE)
            except SummaryFormatError:
                return False
        return True

    def _timestamps(self, values: Sequence[object]) -> array[int] | None:
        cache = self._micros
        try:
            return array("q", list(map(cache.__getitem__, values)))
        except KeyError:
            pass
        if not _remember(cache, values, set(values).difference(cache), _checked_micros):
            return None
        return array("q", list(map(cache.__getitem__, values)))

    def _text_usages(self, values: list[str]) -> array[float] | None:
        cache = self._usages
        try:
            return array("d", list(map(cache.__getitem__, values)))
        except KeyError:
            pass
        missing = set(values).difference(cache)
        if 4 * len(missing) > len(values):  # mostly distinct: convert in bulk instead
            if any("_" in value for value in values):
                return None
            try:
                return _usages_in_range(list(map(float, values)))
            except ValueError:
                return None
        if not _remember(cache, values, missing, _checked_usage):
            return None
        return array("d", list(map(cache.__getitem__, values)))


def _remember(
    cache: dict[_K, _V], values: Sequence[_K], missing: set[_K], check: Callable[[_K], _V | None]
) -> bool:
    """Check and remember the values not in ``cache``; False at the first one rejected."""
    if len(cache) + len(missing) > CACHE_LIMIT:
        cache.clear()
        missing = set(values)
    for value in missing:
        checked = check(value)
        if checked is None:
            return False
        cache[value] = checked
    return True


def _checked_micros(value: object) -> int | None:
    """Return a raw collected_at in microseconds, or None if the precise rules reject it."""
    if not isinstance(value, str):
        return None
    try:
        return to_micros(parse_timestamp(value.strip()))
    except ValueError:
        return None


def _checked_usage(value: str) -> float | None:
    """Return a raw usage text in percent, or None if the precise rules reject it."""
    try:
        return parse_usage(value.strip(), NOWHERE)
    except SummaryFormatError:
        return None


def _usages_in_range(usages: list[float]) -> array[float] | None:
    """Return usages as an array if all are percentages (-0.0 folded), else None."""
    low, total = min(usages), sum(usages)
    if low < 0.0 or max(usages) > 100.0 or total != total:  # the sum is NaN if any is
        return None
    if low == 0.0:
        usages = [usage + 0.0 for usage in usages]  # folds -0.0 into 0.0
    return array("d", usages)


def _runs(n: int, *columns: Sequence[object]) -> list[int]:
    """Return where runs of equal keys start, with ``n`` at the end."""
    starts: set[int] = set()
    for column in columns:
        starts.update(compress(range(1, n), map(ne, column[1:], column)))
    return [0, *sorted(starts), n]


def _readings(
    series: dict[SeriesKey, SeriesReadings],
    key: SeriesKey,
    micros: array[int],
    usages: array[float],
) -> None:
    """Append a run of one series' readings to it (a new series takes the run's arrays,
    which are fresh slices)."""
    readings = series.get(key)
    if readings is None:
        series[key] = SeriesReadings(micros, usages)
        return
    readings.times.extend(micros)
    readings.usages.extend(usages)
