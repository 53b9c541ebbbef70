"""The random oracle: any mix of ingests and prunes leaves every number equal to an
independent calculation over what is stored, and the store holding exactly that.

It runs on the in-memory store, on a real SQLite file and on a real PostgreSQL
database (one per module and backend, emptied before each example).
"""

from __future__ import annotations

import json
import math
import random
import statistics
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from tests import independent
from tests.conftest import depth, empty_store, store_content
from tests.memory_store import MemoryStore
from usagelens.app import Handlers, build
from usagelens.domain.histogram import UsageHistogram
from usagelens.domain.policy import Policy
from usagelens.ports import Store
from usagelens.storage import SqlStore, create_engine_for

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
START = NOW - timedelta(hours=48)
PRICES = {"0080": {"CPU": 100.0, "RAM": 30.0}, "SBP 366": {"NetFlow": 7.0}}
PRICE_LIST = b"values:\n  0080: {CPU: 100, RAM: 30}\n  SBP 366: {NetFlow: 7}\n"

Record = tuple[str, str, str, int, float]
"""Team, resource, dimension, hour after START, usage."""

_RECORDS = st.lists(
    st.tuples(
        st.sampled_from(["team a", "team b"]),
        st.sampled_from(["0080", "SBP 366", "98F•063"]),
        st.sampled_from(["CPU", "RAM", "NetFlow"]),
        st.integers(0, 47),
        st.integers(0, 100).map(float) | st.sampled_from([12.5, 0.1, 99.99, 33.3]),
    ),
    min_size=1,
    max_size=40,
)
STEPS = {
    "batches": st.lists(_RECORDS, min_size=1, max_size=5),
    "prune_hours": st.lists(st.integers(1, 40), max_size=2),
    "reprices": st.lists(st.sampled_from([0.5, 3.0]), max_size=1),
    "seed": st.integers(0, 1000),
}
EXAMPLES = depth(60)
"""Examples per store: 3 to 6 s on PostgreSQL, about 1 s on SQLite and in memory."""


def _stamp(hour: int) -> str:
    return (START + timedelta(hours=hour)).strftime("%Y-%m-%d %H:%M:%S")


def _check(service: Handlers, stored: dict, policy: Policy, prices: dict) -> None:  # type: ignore[type-arg]
    """Check every row and the store's content against what the oracle says is stored."""
    kept = {key: by_time for key, by_time in stored.items() if by_time}
    want = {(r["team"], r["resource"], r["dimension"]): r for r in independent.rows(kept, prices)}
    rows = service.queries.rows()
    assert len(rows) == len(want)
    for row in rows:
        expected = want[(row.team, row.resource, row.dimension.value)]
        usages = list(stored[(row.team, row.resource, row.dimension.value)].values())
        assert row.count == expected["count"]
        assert row.mean == statistics.fmean(usages)
        assert row.median == expected["median"]
        assert row.cost == expected["cost"]
        verdict = policy.judge(row.count, row.mean, row.median)
        assert (row.usage_type, row.intensity, row.decision) == (
            verdict.usage_type,
            verdict.intensity,
            verdict.decision,
        )
    money = independent.money(list(want.values()))
    view = service.queries.view()
    assert view.costs.total == pytest.approx(money["total"], abs=1e-9)
    assert view.deleted.by_dimension == pytest.approx(money["deleted"], abs=1e-9)
    teams = {team for team, _, _ in want}
    assert set(view.costs.teams) == set(view.deleted.teams) == teams
    for team in teams:
        mine = [r for r in want.values() if r["team"] == team]
        assert view.costs.teams[team] == pytest.approx(independent.money(mine)["total"], abs=1e-9)
    stats = {(t, r, d.value): s for (t, r, d), s in view.stats}
    assert set(stats) == set(want)
    for key, by_time in kept.items():
        assert stats[key].frequencies == UsageHistogram.of(by_time.values()).frequencies
        assert stats[key].total == math.fsum(by_time.values())
    content = store_content(service)
    observations = str(content["observations"])
    assert (independent.parse(observations) if observations else {}) == kept
    assert content["prices"] == {"values": prices}


def _run(
    store: Store,
    batches: list[list[Record]],
    prunes: list[int],
    seed: int,
    reprices: tuple[float, ...] = (),
) -> None:
    """Ingest the batches, prune at the hours and change the prices in a shuffled order,
    checking each step (the read model follows every change)."""
    service = build(store, clock=lambda: NOW)
    service.prices.replace_prices(PRICE_LIST)
    prices = PRICES
    stored: dict = {}  # type: ignore[type-arg]
    steps: list[object] = [*batches, *prunes, *reprices]
    random.Random(seed).shuffle(steps)
    for step in steps:
        if isinstance(step, float):  # every price times a factor
            prices = {r: {d: v * step for d, v in dims.items()} for r, dims in PRICES.items()}
            service.prices.replace_prices(json.dumps({"values": prices}).encode())
        elif isinstance(step, int):  # prune everything older than START + step hours
            service.maintenance.prune(NOW - (START + timedelta(hours=step)))
            cutoff = _stamp(step)
            for by_time in stored.values():
                for moment in [m for m in by_time if m < cutoff]:
                    del by_time[moment]
        else:
            assert isinstance(step, list)
            text = independent.render([(t, r, d, _stamp(h), u) for t, r, d, h, u in step])
            result = service.ingest.ingest(text.encode(), source="test")
            assert result.inserted + result.updated + result.duplicates == len(step)
            for team, resource, dim, hour, usage in step:
                stored.setdefault((team, resource, dim), {})[_stamp(hour)] = usage
        _check(service, stored, Policy(), prices)


@settings(max_examples=EXAMPLES, deadline=None)
@given(**STEPS)
def test_on_the_memory_store(
    batches: list[list[Record]], prune_hours: list[int], reprices: list[float], seed: int
) -> None:
    _run(MemoryStore(), batches, prune_hours, seed, tuple(reprices))


@pytest.fixture(scope="module")
def engine(module_database_url: str) -> Iterator[Engine]:
    engine = create_engine_for(module_database_url)
    yield engine
    engine.dispose()


@settings(max_examples=EXAMPLES, deadline=None)
@given(**STEPS)
def test_on_a_database(
    module_database_url: str,
    engine: Engine,
    batches: list[list[Record]],
    prune_hours: list[int],
    reprices: list[float],
    seed: int,
) -> None:
    empty_store(module_database_url)
    # A new store: no series ids known.
    _run(SqlStore(engine), batches, prune_hours, seed, tuple(reprices))
