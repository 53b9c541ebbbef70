"""The FOCUS export's pure parts: periods, apportioning, formats, encoding of names."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import unquote

from hypothesis import given
from hypothesis import strategies as st

from usagelens.domain.analytics import AnalyticsRow, Evidence
from usagelens.domain.batch import to_micros
from usagelens.domain.focus import (
    COLUMNS,
    FocusAccount,
    FocusExport,
    Period,
    apportion,
    ascii_text,
    charge_period,
    decimal_text,
    focus_time,
    money_text,
    months_of,
)
from usagelens.domain.model import Dimension, Window
from usagelens.domain.policy import Policy


def _at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def _row(
    first: datetime, last: datetime, cost: float | None = 10.0, team: str = "t"
) -> AnalyticsRow:
    verdict = Policy().judge(40, 12.5, 10.0)
    evidence = Evidence(40, to_micros(first), to_micros(last), True)
    return AnalyticsRow(team, "r", Dimension.CPU, verdict, cost, evidence)


def test_an_unbounded_window_is_the_hours_the_observations_cover() -> None:
    rows = [_row(_at(2026, 11, 3, 10, 59, 47), _at(2026, 11, 5, 8, 0, 1))]
    assert charge_period(Window(), rows) == Period(_at(2026, 11, 3, 10), _at(2026, 11, 5, 9))


def test_named_bounds_are_kept_and_narrowed_to_the_data() -> None:
    rows = [_row(_at(2026, 11, 3, 10), _at(2026, 11, 5, 8))]
    inside = Window(_at(2026, 11, 4), datetime(2026, 11, 4, 12, 0, 0, 500, tzinfo=UTC))
    # An end with a fraction of a second ends at the next whole second (it stays exclusive).
    assert charge_period(inside, rows) == Period(_at(2026, 11, 4), _at(2026, 11, 4, 12, 0, 1))
    wider = Window(_at(2000, 1, 1), _at(2030, 1, 1))
    assert charge_period(wider, rows) == Period(_at(2026, 11, 3, 10), _at(2026, 11, 5, 9))
    assert charge_period(Window(_at(2027, 1, 1)), rows) is None
    assert charge_period(Window(), []) is None


def test_months_cut_at_each_first_of_the_month_and_the_new_year() -> None:
    parts = months_of(Period(_at(2026, 11, 20, 6), _at(2027, 1, 2)))
    assert [(p.start, p.end, m.start, m.end) for p, m in parts] == [
        (_at(2026, 11, 20, 6), _at(2026, 12, 1), _at(2026, 11, 1), _at(2026, 12, 1)),
        (_at(2026, 12, 1), _at(2027, 1, 1), _at(2026, 12, 1), _at(2027, 1, 1)),
        (_at(2027, 1, 1), _at(2027, 1, 2), _at(2027, 1, 1), _at(2027, 2, 1)),
    ]
    assert len(months_of(Period(_at(2026, 2, 1), _at(2026, 3, 1)))) == 1


@given(
    cost=st.floats(min_value=0, max_value=1e9, allow_nan=False),
    hours=st.lists(st.integers(min_value=1, max_value=744), min_size=1, max_size=6),
)
def test_apportioned_parts_add_up_to_the_cost_exactly(cost: float, hours: list[int]) -> None:
    start = _at(2026, 1, 1)
    parts = []
    for n in hours:
        end = datetime.fromtimestamp(start.timestamp() + n * 3600, UTC)
        parts.append(Period(start, end))
        start = end
    shares = apportion(cost, parts)
    assert sum(shares, Decimal(0)) == Decimal(repr(cost))
    total = sum(hours)
    for share, n in zip(shares, hours, strict=True):
        assert abs(share - Decimal(repr(cost)) * n / total) <= Decimal("1e-9") * len(hours)


def test_numbers_are_plain_decimals() -> None:
    assert [decimal_text(v) for v in (48.0, 49.385, 1e-7, 1e21, 0.0, -0.0)] == [
        "48.0", "49.385", "0.0000001", "1000000000000000000000.0", "0.0", "0.0",
    ]  # fmt: skip
    assert [money_text(v) for v in (561.0, 12.5, 100 / 3, 1e-7)] == [
        "561.00", "12.50", "33.333333333333336", "0.0000001",
    ]  # fmt: skip
    assert focus_time(datetime(2026, 11, 3, 10, 0, 0, 999, tzinfo=UTC)) == "2026-11-03T10:00:00Z"


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40))
def test_names_become_printable_ascii_and_decode_back(name: str) -> None:
    encoded = ascii_text(name)
    assert all(" " <= char <= "~" for char in encoded)
    assert unquote(encoded) == name


def test_ascii_names_stay_as_they_are() -> None:
    assert ascii_text("SBP 366") == "SBP 366"
    assert ascii_text("98F•063") == "98F%E2%80%A2063"
    assert ascii_text("100%") == "100%25"


def test_unpriced_rows_are_left_out_and_counted() -> None:
    first, last = _at(2026, 11, 3), _at(2026, 11, 4)
    rows = [_row(first, last), _row(first, last, cost=None, team="u")]
    export = FocusExport(rows, Window(), "EUR", FocusAccount("Acme", "acme-1"))
    lines = export.render().splitlines()
    assert lines[0] == ",".join(COLUMNS) and len(lines) == 2 and export.unpriced == 1
    values = dict(zip(COLUMNS, lines[1].split(","), strict=False))
    assert (values["BilledCost"], values["BillingCurrency"], values["ProviderName"]) == (
        "10.00", "EUR", "Acme",
    )  # fmt: skip
