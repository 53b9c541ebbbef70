"""The simulator's data: the right shape, deterministic, every decision in every branch."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from usagelens.documents import load_price_list
from usagelens.domain.analytics import analyse
from usagelens.domain.policy import Policy
from usagelens.domain.summary import parse_summary, render_summary
from usagelens.simulator.data import company, price_list_yaml

NOW = datetime(2026, 11, 27, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize("branch", [1, 2, 3, 7, 42])
def test_branch_shape_and_every_decision(branch: int) -> None:
    observations = company(branch).observations(NOW)
    assert len(observations) == 24000
    teams = {o.team for o in observations}
    assert len(teams) == 4 and all(len(t.split()) >= 3 for t in teams)
    assert len({(o.team, o.resource) for o in observations}) == 40
    assert all(o.usage.is_integer() and 0 <= o.usage <= 100 for o in observations)
    assert max(o.collected_at for o in observations) <= NOW
    assert max(o.collected_at for o in observations) > NOW - timedelta(hours=1)
    # The text form survives the real parser.
    order = {team: i for i, team in enumerate(dict.fromkeys(o.team for o in observations))}
    assert parse_summary(render_summary(observations)) == sorted(
        observations, key=lambda o: order[o.team]
    )
    series: dict = {}
    for o in observations:
        series.setdefault((o.team, o.resource, o.dimension), []).append(o.usage)
    prices = load_price_list(price_list_yaml([company(branch)]))
    rows = analyse(list(series.items()), Policy(), prices)
    assert Counter(r.decision.value for r in rows).keys() == {"delete", "keep", "extend"}
    assert Counter(r.usage_type.value for r in rows).keys() == {"falling", "spiky", "stable"}
    assert all(r.cost is not None for r in rows)
    shared = [
        r
        for r in rows
        if sum(1 for x in rows if (x.resource, x.dimension) == (r.resource, r.dimension)) > 1
    ]
    assert shared, "one resource is shared between two teams"


def test_same_branch_same_data_and_an_hour_later_overlaps() -> None:
    first = company(5).observations(NOW)
    assert first == company(5).observations(NOW + timedelta(minutes=20))
    later = {o.key: o.usage for o in company(5).observations(NOW + timedelta(hours=1))}
    overlap = [o for o in first if o.key in later]
    assert len(overlap) == 24000 - 120
    assert all(later[o.key] == o.usage for o in overlap)
    assert company(5).observations(NOW) != company(6).observations(NOW)


def test_price_list_has_resource_ids_like_licence_plates() -> None:
    text = price_list_yaml([company(b) for b in (1, 2, 3)])
    prices = load_price_list(text)
    assert any(r.isdigit() for r in prices.values)
    assert any(" " in r for r in prices.values) and any("-" in r for r in prices.values)
