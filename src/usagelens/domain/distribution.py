"""A series' usages as distinct value → count: exact statistics that update by deltas.

Usages are percentages with limited precision (the monitoring module sends integers), so
a series of any length has few distinct values. Keeping those values with their counts,
plus a running count, an exact running sum and the histogram, gives every statistic the
rules need, and a batch updates them by what it adds and removes (``apply``), never by
re-reading the series. Only the median looks at the distinct values, in C-speed passes.

Exactness: ``mean`` equals ``statistics.fmean`` of the usages (the correctly rounded sum
divided by the count) and ``median`` equals ``statistics.median``, bit for bit.
"""

from __future__ import annotations

import struct
import sys
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import accumulate
from operator import mul
from typing import Any

from usagelens.domain.histogram import USAGE_BOUNDS, round_to_ten

_BIG_ENDIAN = sys.byteorder == "big"
_HEADER = struct.Struct(f"<BqHI{len(USAGE_BOUNDS)}q")
"""Encoding, count, sum exponent, sum numerator length, histogram."""
_WIDE = 1
"""Values as float64, counts as int64."""
_PERCENT = 2
"""Whole percentages (0 to 100) as uint8, counts as uint32: 5 bytes a distinct value."""
_LAYOUT = {_WIDE: ("d", "q"), _PERCENT: ("B", "I")}
_FLOAT_LANES = tuple(
    bytes(array("d", [float(k)]).tobytes()[lane] for k in range(256)) for lane in range(8)
)
"""Per byte of a float64 (little-endian), that byte of float(k) for k = 0…255: decoding
whole percentages is then three ``bytes.translate`` into a zeroed buffer (its low five
bytes are zero for every integer below 8,192), not a float made per value."""


@dataclass(slots=True)  # read-only by convention: frozen construction costs 2.5× per row
class SeriesStats:
    """What the rules need of a series: its count, sum, mean, median and histogram."""

    count: int
    total: float
    """The sum of the usages, correctly rounded."""
    mean: float
    median: float
    frequencies: tuple[int, ...]
    """Observations per rounded value 0, 10, …, 100 (not cumulative)."""


class Distribution:
    """Distinct usages in ascending order with their counts, and running totals."""

    __slots__ = ("_exponent", "_numerator", "_packed", "count", "counts", "frequencies", "values")

    def __init__(self) -> None:
        self.values: array[float] = array("d")
        self.counts: array[int] = array("q")
        self.count = 0
        self.frequencies = [0] * len(USAGE_BOUNDS)
        """Observations per rounded value 0, 10, …, 100."""
        self._numerator = 0
        self._exponent = 0
        """The exact sum is numerator / 2**exponent."""
        self._packed: bytes | None = None
        """The values as whole percentages (uint8), as decoded, while none was inserted or
        dropped since: a re-encode after counts changed takes them as they are."""

    @classmethod
    def of(cls, usages: Iterable[float]) -> Distribution:
        """Count a sequence of usages."""
        distribution = cls()
        distribution.apply(Counter(usages))
        return distribution

    @classmethod
    def from_sorted(cls, values: array[float], counts: array[int]) -> Distribution:
        """Build from distinct ascending values and their (positive) counts."""
        distribution = cls()
        distribution.values, distribution.counts = values, counts
        distribution.count = sum(counts)
        if all(map(float.is_integer, values)):  # whole numbers: totals in C-speed passes
            distribution._numerator = sum(map(mul, map(int, values), counts))
            cumulative = [0, *accumulate(counts)]
            edges = [cumulative[bisect_left(values, bound + 5)] for bound in USAGE_BOUNDS]
            distribution.frequencies = [b - a for a, b in zip([0, *edges], edges, strict=False)]
        else:
            for value, count in zip(values, counts, strict=True):
                distribution._add_to_totals(value, count)
        return distribution

    def without(self, removed: Iterable[tuple[float, int]]) -> Distribution:
        """Return a new distribution lacking ``(value, count)`` observations (a window's outside).

        Costs what is removed, not what is stored: the totals lose the removed part
        (exactly: the sum is a rational kept whole) and only emptied values are dropped.
        Raises ValueError if a value would be removed more often than it occurs.
        """
        values, counts = array("d", self.values), array("q", self.counts)
        rest = Distribution()
        rest.count, rest.frequencies = self.count, list(self.frequencies)
        rest._numerator, rest._exponent = self._numerator, self._exponent
        emptied, whole = False, self._exponent == 0
        for value, count in removed:
            value += 0.0  # one key for 0 and -0.0
            index = bisect_left(values, value)
            if index == len(values) or values[index] != value or counts[index] < count:
                raise ValueError(f"cannot remove {count} × {value}: not that many stored")
            left = counts[index] = counts[index] - count
            emptied = emptied or not left
            rest.count -= count
            if whole and value.is_integer():
                rest._numerator -= int(value) * count
                rest.frequencies[(int(value) + 5) // 10] -= count  # round_to_ten, halves up
            else:
                rest._add_to_totals(value, -count)
        if emptied:
            kept = [i for i, count in enumerate(counts) if count]
            values = array("d", [values[i] for i in kept])
            counts = array("q", [counts[i] for i in kept])
        else:
            rest._packed = self._packed
        rest.values, rest.counts = values, counts
        return rest

    def apply(self, deltas: Mapping[float, int]) -> None:
        """Add (positive) or remove (negative) observations of each value.

        Raises ValueError if a value would be removed more often than it occurs.
        """
        values, counts = self.values, self.counts
        for value, delta in sorted(deltas.items()):
            if not delta:
                continue
            value += 0.0  # one key for 0 and -0.0, ints and floats alike
            index = bisect_left(values, value)
            if index < len(values) and values[index] == value:
                remaining = counts[index] + delta
                if remaining < 0:
                    raise ValueError(f"cannot remove {-delta} × {value}: only {counts[index]}")
                if remaining:
                    counts[index] = remaining
                else:
                    del values[index]
                    del counts[index]
                    self._packed = None
            elif delta > 0:
                values.insert(index, value)
                counts.insert(index, delta)
                self._packed = None
            else:
                raise ValueError(f"cannot remove {-delta} × {value}: it does not occur")
            self.count += delta
            self._add_to_totals(value, delta)

    def _add_to_totals(self, value: float, count: int) -> None:
        self.frequencies[round_to_ten(value) // 10] += count
        numerator, denominator = value.as_integer_ratio()  # denominator: a power of two
        exponent = denominator.bit_length() - 1
        if exponent > self._exponent:
            self._numerator <<= exponent - self._exponent
            self._exponent = exponent
        self._numerator += (count * numerator) << (self._exponent - exponent)

    def total(self) -> float:
        """Return the exact sum of the usages, rounded once to the nearest float."""
        return self._numerator / (1 << self._exponent)  # int / int is correctly rounded

    def median(self) -> float:
        """Return the median: the middle value, or the mean of the two middle values."""
        n = self.count
        if n == 0:
            raise ValueError("the median of no observations is undefined")
        cumulative = list(accumulate(self.counts))
        low = self.values[bisect_right(cumulative, (n - 1) // 2)]
        if n % 2:
            return low
        high = self.values[bisect_right(cumulative, n // 2)]
        return (low + high) / 2

    def stats(self) -> SeriesStats:
        """Return count, sum, mean, median and histogram (the series must not be empty)."""
        total = self.total()
        return SeriesStats(
            self.count, total, total / self.count, self.median(), tuple(self.frequencies)
        )

    def to_bytes(self) -> bytes:
        """Encode: a header (count, exact sum, histogram), then the values and counts."""
        numerator = self._numerator.to_bytes((self._numerator.bit_length() + 8) // 8, "little")
        whole = self._exponent == 0 and bool(self.values) and self.values[-1] <= 100
        encoding = _PERCENT if whole and self.count < 1 << 32 else _WIDE
        value_type, count_type = _LAYOUT[encoding]
        counts = array(count_type, self.counts)
        if encoding == _PERCENT:
            packed = self._packed
            if packed is None:
                packed = self._packed = bytes(map(int, self.values))
        else:
            values = array(value_type, self.values)
            if _BIG_ENDIAN:
                values.byteswap()
            packed = values.tobytes()
        if _BIG_ENDIAN:
            counts.byteswap()
        header = _HEADER.pack(
            encoding, self.count, self._exponent, len(numerator), *self.frequencies
        )
        return header + numerator + packed + counts.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Distribution:
        """Decode ``to_bytes``'s output (empty bytes: an empty distribution)."""
        distribution = cls()
        if not data:
            return distribution
        encoding, count, exponent, length, *frequencies = _HEADER.unpack_from(data)
        if encoding not in _LAYOUT:
            raise ValueError(f"unknown distribution encoding {encoding}")
        value_type, count_type = _LAYOUT[encoding]
        values: array[Any] = array(value_type)
        counts: array[int] = array(count_type)
        start = _HEADER.size + length
        middle = (
            start + (len(data) - start) // (values.itemsize + counts.itemsize) * values.itemsize
        )
        if encoding == _PERCENT:  # widened to float64 and int64 by bytes, not per value
            packed = distribution._packed = data[start:middle]
            values, counts = array("d"), array("q")
            values.frombytes(_floats_of(packed))
            counts.frombytes(_int64s_of(data[middle:]))
        else:
            values.frombytes(data[start:middle])
            counts.frombytes(data[middle:])
        if _BIG_ENDIAN:
            values.byteswap()
            counts.byteswap()
        distribution.values, distribution.counts = values, counts
        distribution.count = count
        distribution.frequencies = frequencies
        distribution._numerator = int.from_bytes(data[_HEADER.size : start], "little")
        distribution._exponent = exponent
        return distribution

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Distribution):
            return NotImplemented
        return (
            self.values == other.values
            and self.counts == other.counts
            and self.total() == other.total()
        )

    def __repr__(self) -> str:
        pairs = ", ".join(f"{v:g}×{c}" for v, c in zip(self.values, self.counts, strict=True))
        return f"Distribution({pairs})"


def _floats_of(packed: bytes) -> bytearray:
    """Return whole numbers 0…255 (one byte each) as float64s (little-endian)."""
    lanes = bytearray(8 * len(packed))
    for lane in (5, 6, 7):
        lanes[lane::8] = packed.translate(_FLOAT_LANES[lane])
    return lanes


def _int64s_of(uint32s: bytes) -> bytearray:
    """Return little-endian uint32s as little-endian int64s (each four bytes, four zeros)."""
    lanes = bytearray(2 * len(uint32s))
    for lane in range(4):
        lanes[lane::8] = uint32s[lane::4]
    return lanes
