"""The JSON form (a list of observation objects): its precise parser and its streaming parser.

``parse_records`` reads a decoded document into observations; ``RecordsParser`` reads
bytes fed in pieces into a ``UsageBatch``, through the fast path where it can, with the
errors ``json.loads`` and ``parse_records`` would give.
"""

from __future__ import annotations

import json
import re
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
from usagelens.domain.summary.stream import BLOCK, StreamingParser, Utf8Stream

_JSON_FIELDS = frozenset({"team", "resource", "dimension", "collected_at", "usage"})
_JSON_WHITESPACE = " \t\n\r"
_JSON_START = re.compile(rb"[^ \t\n\r]")
_OPEN, _FIRST, _VALUE, _NEXT, _END = range(5)
"""Where a streamed JSON list is: before '[', after '[', after ',', after a value, after ']'."""


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
        where = Where(
            team=excerpt(team.strip()) if isinstance(team, str) else None, record_index=index
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
                team=check_id(item["team"].strip(), "team", where),
                resource=check_id(item["resource"].strip(), "resource", where),
                dimension=parse_dimension(item["dimension"].strip(), where),
                collected_at=parse_collected_at(item["collected_at"].strip(), where, timestamps),
                usage=parse_usage(str(usage).strip(), where),
            )
        )
    return observations


def _describe_json(offset: int, bad: bytes, reason: str) -> str:
    """Say which byte at which offset is not UTF-8, as ``json.loads`` would."""
    return (
        f"payload is not valid JSON ('utf-8' codec can't decode byte 0x{bad[0]:02x}"
        f" in position {offset}: {reason})"
    )


class RecordsParser(StreamingParser):
    """Parse the JSON form (a list of observation objects) incrementally into a UsageBatch.

    A UTF-8 list is streamed, holding only its unfinished element; any other document
    (another encoding, not a list) is kept whole and judged at close as ``json.loads``
    would. Bad JSON is reported at once; a bad record by ``close``, because bad JSON
    anywhere in the payload takes precedence.
    """

    def __init__(self) -> None:
        super().__init__(None)  # a decoder once the payload is known to be a UTF-8 list
        self._head = bytearray()  # the first bytes, until the encoding and kind are known
        self._whole: list[bytes] | None = None  # a document that is not streamed
        self._scan = json.JSONDecoder().raw_decode
        self._pending_size = 0
        self._retry_size = 0  # after a parse that made no progress, wait for this much text
        self._consumed = 0  # characters parsed before the pending text
        self._state = _OPEN
        self._items = 0  # elements of the list seen

    def _finish(self) -> UsageBatch:
        if self._whole is None and self._decoder is None:
            self._choose(self._head, final=True)
        if self._whole is not None:
            return _records_batch_at_once(b"".join(self._whole))
        assert self._decoder is not None
        self._take(self._decoder.decode(b"", final=True))
        self._parse(final=True)
        if not self._items:
            raise SummaryFormatError("payload is empty")
        return self._batch()

    def _feed(self, chunk: bytes | memoryview) -> None:
        if self._whole is not None:
            self._whole.append(bytes(chunk))
        elif self._decoder is not None:
            super()._feed(chunk)
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
                self._decoder = Utf8Stream("surrogatepass", _describe_json, offset=skip)
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
            elif not final and size - pos < BLOCK and text.find("}", pos) == -1:
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
            observations = _parse_items(items, first, collector.moments)
        except SummaryFormatError as exc:
            self._reject(exc)
            return
        collector.add_observations(observations)

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
