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
