"""The text format (SPEC 1.1): its precise parser and its streaming parser.

    <team>|(<resource>,<dimension>,<collected_at>,<usage>);(...)$<team>|(...)

``parse_summary`` reads a whole text into observations; ``SummaryParser`` reads bytes
fed in pieces into a ``UsageBatch``, through the fast path where it can, with the same
language and the same errors.
"""

from __future__ import annotations

from datetime import datetime

from usagelens.domain.batch import UsageBatch
from usagelens.domain.errors import SummaryFormatError
from usagelens.domain.model import Observation
from usagelens.domain.summary.fields import (
    Where,
    check_id,
    excerpt,
    parse_collected_at,
    parse_dimension,
    parse_usage,
)
from usagelens.domain.summary.stream import StreamingParser, Utf8Stream


def parse_summary_bytes(data: bytes) -> list[Observation]:
    """Decode a summary as UTF-8 and parse it; bytes that are not UTF-8 are rejected."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1]
        raise SummaryFormatError(_describe_text(exc.start, bad, exc.reason)) from None
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
            raise Where(team_index, team).error("team has no records")
        observations.extend(_parse_team_records(records, team, team_index, 1, timestamps))
    return observations


def _split_team(chunk: str, team_index: int) -> tuple[str, str]:
    """Split one ``$``-separated entry into its checked team name and its records."""
    name, sep, records = chunk.partition("|")
    team = name.strip()
    if not sep:
        if not team:
            raise Where(team_index).error("empty team entry (a stray '$'?)")
        raise Where(team_index).error(
            f"missing '|' between the team name and its records in {excerpt(team)!r}"
        )
    return check_id(team, "team", Where(team_index)), records


def _parse_team_records(
    records: str, team: str, team_index: int, first: int, timestamps: dict[str, datetime]
) -> list[Observation]:
    """Parse ``;``-separated records of one team, numbering them from ``first``."""
    return [
        _parse_record(record.strip(), team, Where(team_index, team, record_index), timestamps)
        for record_index, record in enumerate(records.split(";"), start=first)
    ]


def _parse_record(
    record: str, team: str, where: Where, timestamps: dict[str, datetime]
) -> Observation:
    if not record:
        raise where.error("empty record")
    inner = record[1:-1]
    if not (record.startswith("(") and record.endswith(")")) or "(" in inner or ")" in inner:
        raise where.error(f"unbalanced parentheses in {excerpt(record)!r}")
    fields = inner.split(",")
    if len(fields) != 4:
        raise where.error(
            f"expected 4 fields (resource, dimension, collected_at, usage), got {len(fields)}"
            f" in {excerpt(record)!r}"
        )
    resource, dimension, collected_at, usage = (f.strip() for f in fields)
    return Observation(
        team=team,
        resource=check_id(resource, "resource", where),
        dimension=parse_dimension(dimension, where),
        collected_at=parse_collected_at(collected_at, where, timestamps),
        usage=parse_usage(usage, where),
    )


def _describe_text(offset: int, bad: bytes, reason: str) -> str:
    """Say which byte at which offset is not UTF-8."""
    return f"payload is not valid UTF-8 (byte {bad!r} at offset {offset})"


class SummaryParser(StreamingParser):
    """Parse the text format incrementally into a UsageBatch (bounded memory).

    Only the unfinished tail (the text after the last ``;`` or ``$``) is held between
    feeds. A bad byte is reported at once; any other fault is reported by ``close``,
    because a bad byte later in the payload takes precedence, as in ``parse_summary_bytes``.
    """

    def __init__(self) -> None:
        super().__init__(Utf8Stream("strict", _describe_text))
        self._started = False  # leading whitespace and byte order mark are behind us
        self._team: str | None = None  # the team whose records are being read
        self._team_index = 1
        self._records = 0  # records of the current team already parsed

    def _finish(self) -> UsageBatch:
        assert self._decoder is not None
        self._decoder.decode(b"", final=True)
        if self._fault is None:
            if not self._started:
                raise SummaryFormatError("payload is empty")
            self._parse(final=True)
        return self._batch()

    def _take(self, text: str) -> None:
        if not text or self._fault is not None:
            return
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
                self._reject(exc)
                self._pending.clear()

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
                self._team = check_id(text[:bar].strip(), "team", Where(self._team_index))
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
                raise Where(self._team_index, self._team).error("team has no records")
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
            added = collector.add_observations(
                _parse_team_records(segment, team, self._team_index, first, collector.moments)
            )
        self._records += added


def parse_summary_batch(data: bytes) -> UsageBatch:
    """Parse a whole summary in the text format into a batch (``SummaryParser`` at once)."""
    parser = SummaryParser()
    parser.feed(data)
    return parser.close()
