"""Distribution: removing a window's outside gives what counting the inside gives."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from usagelens.domain.distribution import Distribution

usage = st.one_of(
    st.integers(0, 100).map(float),
    st.floats(0, 100, allow_nan=False).map(lambda u: round(u, 3)),
)


@given(st.lists(usage, min_size=1, max_size=60), st.data())
def test_without_equals_counting_what_stays(usages: list[float], data: st.DataObject) -> None:
    kept = data.draw(st.lists(st.booleans(), min_size=len(usages), max_size=len(usages)))
    inside = [u for u, keep in zip(usages, kept, strict=True) if keep]
    outside = [u for u, keep in zip(usages, kept, strict=True) if not keep]
    stored = Distribution.from_bytes(Distribution.of(usages).to_bytes())
    removed = Distribution.of(outside)
    rest = stored.without(zip(removed.values, removed.counts, strict=True))
    assert rest == Distribution.of(inside)
    if inside:
        stats = rest.stats()
        assert stats.count == len(inside)
        assert stats.total == math.fsum(inside)
        assert stats.mean == statistics.fmean(inside)
        assert stats.median == statistics.median(inside)
        assert stats.frequencies == Distribution.of(inside).stats().frequencies


def test_removing_what_is_not_there_is_refused() -> None:
    stored = Distribution.of([10.0, 20.0])
    with pytest.raises(ValueError, match="cannot remove 2"):
        stored.without([(10.0, 2)])
    with pytest.raises(ValueError, match=r"× 30\.0"):
        stored.without([(30.0, 1)])


@given(
    st.lists(usage, max_size=60),
    st.lists(st.tuples(usage, st.integers(-3, 3)), max_size=12),
)
def test_encoding_after_changes_decodes_to_what_counting_gives(
    usages: list[float], changes: list[tuple[float, int]]
) -> None:
    """Decoded, changed (counts moved, values added and emptied), encoded and decoded again,
    a distribution is what counting its usages gives, whichever encoding it took."""
    held = list(usages)
    stored = Distribution.from_bytes(Distribution.of(usages).to_bytes())
    for value, delta in changes:
        delta = max(delta, -held.count(value))
        if delta:
            stored.apply({value: delta})
            for _ in range(abs(delta)):
                held.append(value) if delta > 0 else held.remove(value)
        again = Distribution.from_bytes(stored.to_bytes())
        assert again == Distribution.of(held)
        assert list(again.values) == sorted(set(held))
        if held:
            assert again.stats() == Distribution.of(held).stats()
            assert again.median() == statistics.median(held)


def test_whole_percentages_decode_to_floats_with_wide_counts() -> None:
    """The compact encoding (uint8 values, uint32 counts) decodes to float64 values and
    int64 counts, exactly, at its bounds: 0 and 100, and counts near 2**32."""
    counted = Distribution()
    counted.apply({0.0: 1, 37.0: 2**32 - 3, 100.0: 1})
    blob = counted.to_bytes()
    assert blob[0] == 2  # the compact encoding: five bytes a distinct value
    decoded = Distribution.from_bytes(blob)
    assert decoded.values.typecode == "d" and decoded.counts.typecode == "q"
    assert list(decoded.values) == [0.0, 37.0, 100.0]
    assert all(type(value) is float for value in decoded.values)
    assert list(decoded.counts) == [1, 2**32 - 3, 1]
    assert decoded.median() == 37.0 and decoded.count == 2**32 - 1
