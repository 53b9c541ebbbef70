"""The monitoring module's usage summary: parse it exactly, render it back.

Text form (SPEC 1.1)::

    <team>|(<resource>,<dimension>,<collected_at>,<usage>);(...)$<team>|(...)

JSON form: a list of ``{"team", "resource", "dimension", "collected_at", "usage"}``.
Both parsers reject the whole payload at the first fault, naming where it is.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import compress, pairwise
from operator import itemgetter, ne
from typing import Any, cast

from usagelens.domain.batch import SeriesReadings, UsageBatch, to_micros
from usagelens.domain.errors import SummaryFormatError
from usagelens.domain.ids import name_problem
from usagelens.domain.model import Dimension, Observation, SeriesKey

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
        team, records = _split_team(chunk, team_index)
        records = records.strip()
        if not records:
            raise _Where(team_index, team).error("team has no records")
        observations.extend(_parse_team_records(records, team, team_index, 1, timestamps))
    return observations


def _split_team(chunk: str, team_index: int) -> tuple[str, str]:
    """Split one ``$``-separated entry into its checked team name and its records."""
    name, sep, records = chunk.partition("|")
    team = name.strip()
    if not sep:
        if not team:
            raise _Where(team_index).error("empty team entry (a stray '$'?)")
        raise _Where(team_index).error(
            f"missing '|' between the team name and its records in {_excerpt(team)!r}"
        )
    return _check_id(team, "team", _Where(team_index)), records


def _parse_team_records(
    records: str, team: str, team_index: int, first: int, timestamps: dict[str, datetime]
) -> list[Observation]:
    """Parse ``;``-separated records of one team, numbering them from ``first``."""
    return [
        _parse_record(record.strip(), team, _Where(team_index, team, record_index), timestamps)
        for record_index, record in enumerate(records.split(";"), start=first)
    ]


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
    return _parse_items(items, 1, {})


def _parse_items(
    items: list[object], first: int, timestamps: dict[str, datetime]
) -> list[Observation]:
    """Parse decoded observation objects, numbering them from ``first``."""
    observations = []
    for index, item in enumerate(items, start=first):
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
    if (problem := name_problem(value)) is not None:
        raise where.error(f"{field} {problem}", field)
    if _DELIMITERS.intersection(value):
        raise where.error(f"{field} {value!r} holds a delimiter of the format ($ | ; , ( ))", field)
    return value


def _excerpt(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Streaming parsers: the same language as the precise parsers above, into a UsageBatch.
#
# A fast path handles well-formed pieces in bulk (str.split, column slices, one check per
# distinct string); whenever it meets anything unusual it hands the piece to the precise
# code, which stays the single authority on what is accepted and on every error message.

_BLOCK = 1 << 18
"""Bytes decoded and parsed at a time, so a huge feed does not make huge temporaries."""
_CACHE_LIMIT = 1 << 14
"""Distinct ids or timestamps remembered before a cache starts over (bounds memory)."""
_JSON_WHITESPACE = " \t\n\r"
_JSON_START = re.compile(rb"[^ \t\n\r]")
_JSON_COLUMNS = tuple(map(itemgetter, ("team", "resource", "dimension", "collected_at", "usage")))
_NOWHERE = _Where()


class _Utf8Stream:
    """Decode UTF-8 arriving in pieces, reporting a bad byte by its offset in the whole."""

    def __init__(self, errors: str, describe: Callable[[int, bytes, str], str], offset: int = 0):
        self._errors = errors
        self._describe = describe
        self._pending = b""
        self._offset = offset  # offset in the payload of the first byte not yet decoded

    def decode(self, data: bytes | memoryview, *, final: bool = False) -> str:
        buffer = self._pending + data if self._pending else data
        try:
            text, used = codecs.utf_8_decode(buffer, self._errors, final)
        except UnicodeDecodeError as exc:
            bad = exc.object[exc.start : exc.start + 1]
            raise SummaryFormatError(
                self._describe(self._offset + exc.start, bad, exc.reason)
            ) from None
        self._pending = bytes(buffer[used:])
        self._offset += used
        return text


def _describe_text(offset: int, bad: bytes, reason: str) -> str:
    return f"payload is not valid UTF-8 (byte {bad!r} at offset {offset})"


def _describe_json(offset: int, bad: bytes, reason: str) -> str:
    return (
        f"payload is not valid JSON ('utf-8' codec can't decode byte 0x{bad[0]:02x}"
        f" in position {offset}: {reason})"
    )


class _Collector:
    """Fill a batch from columns a fast path split off, or from parsed observations.

    Every distinct raw id, timestamp and usage is checked once, by the precise rules, and
    remembered; a piece with anything those rules reject is left to the precise parser.
    """

    def __init__(self) -> None:
        self.batch = UsageBatch()
        self._ids: dict[object, str] = {}  # raw team or resource -> checked id
        self._micros: dict[object, int] = {}  # raw collected_at -> microseconds
        self._usages: dict[str, float] = {}  # raw usage text -> percent

    def add_observations(self, observations: Iterable[Observation]) -> None:
        add = self.batch.add
        for obs in observations:
            add((obs.team, obs.resource, obs.dimension), to_micros(obs.collected_at), obs.usage)

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
        if not _DIMENSIONS.keys() >= {dimensions[i] for i in heads}:
            return 0
        usages = self._text_usages(fields[3::5])
        micros = self._timestamps(times)
        if usages is None or micros is None:
            return 0
        ids, series = self._ids, self.batch.series
        for start, end in pairwise(runs):
            key = (team, ids[resources[start]], _DIMENSIONS[dimensions[start]])
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
            if not _DIMENSIONS.keys() >= {dimensions[i] for i in heads}:
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
            key = (ids[teams[start]], ids[resources[start]], _DIMENSIONS[dimensions[start]])
            _readings(series, key, micros[start:end], usages[start:end])
        self.batch.observations += n
        return True

    def _known_ids(self, values: list[object]) -> bool:
        ids = self._ids
        if len(ids) > _CACHE_LIMIT:
            ids.clear()
        for value in values:
            if value in ids:
                continue
            if not isinstance(value, str):
                return False
            try:
                ids[value] = _check_id(value.strip(), "resource", _NOWHERE)
            except SummaryFormatError:
                return False
        return True

    def _timestamps(self, values: Sequence[object]) -> array[int] | None:
        cache = self._micros
        try:
            return array("q", list(map(cache.__getitem__, values)))
        except KeyError:
            pass
        missing = set(values).difference(cache)
        if len(cache) + len(missing) > _CACHE_LIMIT:
            cache.clear()
            missing = set(values)
        for value in missing:
            if not isinstance(value, str):
                return None
            try:
                cache[value] = to_micros(parse_timestamp(value.strip()))
            except ValueError:
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
        if len(cache) + len(missing) > _CACHE_LIMIT:
            cache.clear()
            missing = set(values)
        for value in missing:
            try:
                cache[value] = _parse_usage(value.strip(), _NOWHERE)
            except SummaryFormatError:
                return None
        return array("d", list(map(cache.__getitem__, values)))


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
    readings = series.get(key)
    if readings is None:
        readings = series[key] = SeriesReadings()
    readings.times.extend(micros)
    readings.usages.extend(usages)


class SummaryParser:
    """Parse the text format incrementally into a UsageBatch (bounded memory).

    Only the unfinished tail (the text after the last ``;`` or ``$``) is held between
    feeds. A bad byte is reported at once; any other fault is reported by ``close``,
    because a bad byte later in the payload takes precedence, as in ``parse_summary_bytes``.
    """

    def __init__(self) -> None:
        self._decoder = _Utf8Stream("strict", _describe_text)
        self._collector: _Collector | None = _Collector()
        self._timestamps: dict[str, datetime] = {}
        self._pending: list[str] = []  # text not parsed yet, in order
        self._started = False  # leading whitespace and byte order mark are behind us
        self._team: str | None = None  # the team whose records are being read
        self._team_index = 1
        self._records = 0  # records of the current team already parsed
        self._fault: SummaryFormatError | None = None  # the first fault of the text
        self._failed: SummaryFormatError | None = None  # a bad byte, raised again if asked
        self._closed = False

    def feed(self, chunk: bytes) -> None:
        """Parse the next bytes of the payload; raise SummaryFormatError on a bad byte."""
        if self._closed:
            raise ValueError("feed after close")
        if self._failed is not None:
            raise self._failed
        view = memoryview(chunk)
        for start in range(0, len(view), _BLOCK):
            try:
                text = self._decoder.decode(view[start : start + _BLOCK])
            except SummaryFormatError as exc:
                self._failed = exc
                raise
            if text and self._fault is None:
                self._take(text)

    def close(self) -> UsageBatch:
        """Finish the payload and return its batch; raise SummaryFormatError if it is bad."""
        if self._closed:
            raise ValueError("close after close")
        self._closed = True
        if self._failed is not None:
            raise self._failed
        self._decoder.decode(b"", final=True)
        if self._fault is None:
            try:
                if not self._started:
                    raise SummaryFormatError("payload is empty")
                self._parse(final=True)
            except SummaryFormatError as exc:
                self._fault = exc
        if self._fault is not None:
            raise self._fault
        assert self._collector is not None
        return self._collector.batch

    def _take(self, text: str) -> None:
        if not self._started:
            self._pending.append(text)
            text = "".join(self._pending).lstrip()
            self._pending.clear()
            if text.startswith("\ufeff"):
                if not text[1:].lstrip():
                    self._pending.append("\ufeff")
                    return
                text = text[1:].lstrip()
            elif not text:
                return
            self._started = True
            ready = True
        elif self._team is None:
            ready = "|" in text or "$" in text
        else:
            ready = ";" in text or "$" in text
        self._pending.append(text)
        if ready:
            try:
                self._parse(final=False)
            except SummaryFormatError as exc:
                self._fault = exc
                self._pending.clear()
                self._collector = None

    def _parse(self, *, final: bool) -> None:
        text = "".join(self._pending)
        self._pending.clear()
        while True:
            if self._team is None:
                bar, dollar = text.find("|"), text.find("$")
                if dollar != -1 and (bar == -1 or dollar < bar):
                    _split_team(text[:dollar], self._team_index)  # raises: no '|'
                if bar == -1:
                    if final:
                        _split_team(text, self._team_index)  # raises: no '|'
                    break
                self._team = _check_id(text[:bar].strip(), "team", _Where(self._team_index))
                self._records = 0
                text = text[bar + 1 :]
                continue
            dollar = text.find("$")
            if dollar == -1 and not final:
                cut = text.rfind(";")
                if cut != -1:
                    self._add_records(text[:cut])
                    text = text[cut + 1 :]
                break
            last = text if dollar == -1 else text[:dollar]
            if not self._records and ";" not in last and not last.strip():
                raise _Where(self._team_index, self._team).error("team has no records")
            self._add_records(last)
            if dollar == -1:
                text = ""
                break
            text = text[dollar + 1 :]
            self._team = None
            self._team_index += 1
        if text:
            self._pending.append(text)

    def _add_records(self, segment: str) -> None:
        team, collector = self._team, self._collector
        assert team is not None
        assert collector is not None
        added = collector.add_text_records(segment, team)
        if not added:
            first = self._records + 1
            observations = _parse_team_records(
                segment, team, self._team_index, first, self._timestamps
            )
            collector.add_observations(observations)
            added = len(observations)
        self._records += added
        if len(self._timestamps) > _CACHE_LIMIT:
            self._timestamps.clear()


def parse_summary_batch(data: bytes) -> UsageBatch:
    """Parse a whole summary in the text format into a batch (``SummaryParser`` at once)."""
    parser = SummaryParser()
    parser.feed(data)
    return parser.close()


_OPEN, _FIRST, _VALUE, _NEXT, _END = range(5)
"""Where a streamed JSON list is: before '[', after '[', after ',', after a value, after ']'."""


class RecordsParser:
    """Parse the JSON form (a list of observation objects) incrementally into a UsageBatch.

    A UTF-8 list is streamed, holding only its unfinished element; any other document
    (another encoding, not a list) is kept whole and judged at close as ``json.loads``
    would. Bad JSON is reported at once; a bad record by ``close``, because bad JSON
    anywhere in the payload takes precedence.
    """

    def __init__(self) -> None:
        self._head = bytearray()  # the first bytes, until the encoding and kind are known
        self._whole: list[bytes] | None = None  # a document that is not streamed
        self._decoder: _Utf8Stream | None = None
        self._collector: _Collector | None = _Collector()
        self._timestamps: dict[str, datetime] = {}
        self._scan = json.JSONDecoder().raw_decode
        self._pending: list[str] = []  # text not parsed yet, in order
        self._pending_size = 0
        self._retry_size = 0  # after a parse that made no progress, wait for this much text
        self._consumed = 0  # characters parsed before the pending text
        self._state = _OPEN
        self._items = 0  # elements of the list seen
        self._fault: SummaryFormatError | None = None  # the first bad record
        self._failed: SummaryFormatError | None = None  # bad JSON, raised again if asked
        self._closed = False

    def feed(self, chunk: bytes) -> None:
        """Parse the next bytes of the payload; raise SummaryFormatError on bad JSON."""
        if self._closed:
            raise ValueError("feed after close")
        if self._failed is not None:
            raise self._failed
        try:
            self._feed(chunk)
        except SummaryFormatError as exc:
            self._failed = exc
            raise

    def close(self) -> UsageBatch:
        """Finish the payload and return its batch; raise SummaryFormatError if it is bad."""
        if self._closed:
            raise ValueError("close after close")
        self._closed = True
        if self._failed is not None:
            raise self._failed
        if self._whole is None and self._decoder is None:
            self._choose(self._head, final=True)
        if self._whole is not None:
            return _records_batch_at_once(b"".join(self._whole))
        assert self._decoder is not None
        self._take(self._decoder.decode(b"", final=True))
        self._parse(final=True)
        if self._fault is not None:
            raise self._fault
        if not self._items:
            raise SummaryFormatError("payload is empty")
        assert self._collector is not None
        return self._collector.batch

    def _feed(self, chunk: bytes | memoryview) -> None:
        if self._whole is not None:
            self._whole.append(bytes(chunk))
        elif self._decoder is not None:
            view = memoryview(chunk)
            for start in range(0, len(view), _BLOCK):
                self._take(self._decoder.decode(view[start : start + _BLOCK]))
        elif self._head:
            self._head += chunk
            self._choose(self._head, final=False)
        else:
            self._choose(chunk, final=False)

    def _choose(self, data: bytes | bytearray | memoryview, *, final: bool) -> None:
        """Stream a UTF-8 list; keep anything else whole, as ``json.loads`` sees it."""
        if len(data) >= 4 or final:
            encoding = json.detect_encoding(bytes(data[:4]))  # all it looks at
            skip = 3 if encoding == "utf-8-sig" else 0
            if encoding not in ("utf-8", "utf-8-sig"):
                first = None
            elif (found := _JSON_START.search(data, skip)) is not None:
                first = found.group()
            elif final:
                first = None
            else:
                first = b""  # only whitespace so far
            if first == b"[":
                self._decoder = _Utf8Stream("surrogatepass", _describe_json, offset=skip)
                self._head = bytearray()
                self._feed(memoryview(data)[skip:])
                return
            if first is None or first:
                self._whole = [bytes(data)]
                self._head = bytearray()
                return
        if data is not self._head:
            self._head = bytearray(data)

    def _take(self, text: str) -> None:
        self._pending.append(text)
        self._pending_size += len(text)
        if self._pending_size >= self._retry_size:
            self._parse(final=False)

    def _parse(self, *, final: bool) -> None:
        text = "".join(self._pending)
        self._pending.clear()
        size, pos, bulk = len(text), 0, True
        while True:
            pos = _skip_json_whitespace(text, pos)
            state = self._state
            if state == _END:
                if pos < size:
                    raise self._syntax("Extra data", pos)
                break
            if pos == size:
                if final:
                    expected = "Expecting ',' delimiter" if state == _NEXT else "Expecting value"
                    raise self._syntax(expected, pos)
                break
            char = text[pos]
            if state == _OPEN:
                if char != "[":
                    raise self._syntax("Expecting '['", pos)  # cannot happen: see _choose
                self._state, pos = _FIRST, pos + 1
            elif state == _NEXT:
                if char not in ",]":
                    raise self._syntax("Expecting ',' delimiter", pos)
                self._state, pos = (_VALUE if char == "," else _END), pos + 1
            elif char == "]":
                if state == _VALUE:
                    raise self._syntax("Expecting value", pos)  # a trailing comma
                self._state, pos = _END, pos + 1
            elif bulk and (end := text.rfind("}", pos) + 1):
                # Optimistically cut after the last '}': if that parses as elements of a
                # list, they are exactly the elements the whole document holds there.
                try:
                    items = json.loads("[" + text[pos:end] + "]")
                except (ValueError, RecursionError):
                    bulk = False
                else:
                    self._add(items)
                    self._state, pos = _NEXT, end
            elif not final and size - pos < _BLOCK and text.find("}", pos) == -1:
                break  # an object element is not complete yet
            else:
                found = self._scan_one(text, pos, final)
                if found is None:
                    break
                value, pos = found
                self._add([value])
                self._state = _NEXT
        if pos < size:
            self._pending.append(text[pos:])
        self._pending_size = size - pos
        self._retry_size = 2 * size if pos == 0 and not final else 0
        self._consumed += pos

    def _scan_one(self, text: str, pos: int, final: bool) -> tuple[object, int] | None:
        """Parse one element at ``pos``, or return None if more text may complete it."""
        size = len(text)
        try:
            value, end = self._scan(text, pos)
        except json.JSONDecodeError as exc:
            # Only an unterminated string or a fault near the end may be a cut-off.
            if final or (exc.pos < size - 64 and not exc.msg.startswith("Unterminated")):
                raise self._syntax(exc.msg, exc.pos) from None
            return None
        except (ValueError, RecursionError) as exc:
            raise self._syntax(str(exc) or type(exc).__name__, pos) from None
        after = _skip_json_whitespace(text, end)
        if not final and (after == size or (text[after] not in ",]" and after >= size - 64)):
            return None  # a number may go on ("1" then "2", "1." then "5")
        return value, end

    def _add(self, items: list[object]) -> None:
        first = self._items + 1
        self._items += len(items)
        collector = self._collector
        if self._fault is not None or collector is None or not items:
            return
        if collector.add_items(items):
            return
        try:
            observations = _parse_items(items, first, self._timestamps)
        except SummaryFormatError as exc:
            self._fault = exc
            self._collector = None
            return
        collector.add_observations(observations)
        if len(self._timestamps) > _CACHE_LIMIT:
            self._timestamps.clear()

    def _syntax(self, message: str, pos: int) -> SummaryFormatError:
        return SummaryFormatError(
            f"payload is not valid JSON ({message}: char {self._consumed + pos})"
        )


def _skip_json_whitespace(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _JSON_WHITESPACE:
        pos += 1
    return pos


def _records_batch_at_once(data: bytes) -> UsageBatch:
    """Parse a JSON document the way ``json.loads`` and ``parse_records`` do."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise SummaryFormatError(f"payload is not valid JSON ({exc})") from None
    return UsageBatch.of(parse_records(document))


def parse_records_batch(data: bytes) -> UsageBatch:
    """Parse a whole JSON-form payload into a batch (``RecordsParser`` at once)."""
    parser = RecordsParser()
    parser.feed(data)
    return parser.close()
