"""On real SQLite and PostgreSQL: a window's kept view, advanced by the series each write
changed, shows exactly what a reader computing it afresh from the stored rows shows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from usagelens.app import Handlers, build
from usagelens.app import queries as queries_module
from usagelens.domain.model import Window
from usagelens.domain.summary import render_summary
from usagelens.simulator.data import company, price_list_yaml
from usagelens.storage import SqlStore, create_engine_for, migrate

END = datetime(2026, 3, 14, 15, tzinfo=UTC)
NOW = END + timedelta(hours=3)
WINDOWS = [
    Window(since=END - timedelta(hours=48)),
    Window(since=END - timedelta(hours=120), until=END - timedelta(hours=60)),
    Window(until=END - timedelta(hours=30)),
]
"""Open-ended, bounded on both sides, and bounded above: each is read, then advanced."""


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine_for(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


def _handlers(engine: Engine) -> Handlers:
    return build(SqlStore(engine), clock=lambda: NOW)


def _summary(branch: int, end: datetime, hours: int = 200, flip: bool = False) -> bytes:
    readings = company(branch).observations(end, hours=hours)
    if flip:
        readings = [
            type(o)(o.team, o.resource, o.dimension, o.collected_at, 100 - o.usage)
            for o in readings
        ]
    return render_summary(readings).encode()


@pytest.fixture(autouse=True)
def _keep_every_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep as many window views as the test reads, so that each is advanced, not rebuilt."""
    monkeypatch.setattr(queries_module, "KEPT_WINDOWS", len(WINDOWS))


def _assert_as_fresh(kept: Handlers, engine: Engine) -> None:
    """Every window the kept reader shows equals a new reader's, row for row and in money."""
    fresh = _handlers(engine)
    models = dict(kept.queries._windows)
    for window in WINDOWS:
        shown, computed = kept.queries.view(window), fresh.queries.view(window)
        if window in models:  # advanced from what it showed before, not built anew
            assert kept.queries._windows[window] is models[window]
        assert shown.version == computed.version
        assert shown.rows == computed.rows, window
        assert shown.stats == computed.stats, window
        assert (shown.costs, shown.deleted) == (computed.costs, computed.deleted), window


def test_kept_window_views_follow_every_kind_of_change(engine: Engine) -> None:
    kept = _handlers(engine)
    kept.prices.replace_prices(price_list_yaml([company(b) for b in (1, 2, 3)]))
    for branch in (1, 2):
        kept.ingest.ingest(_summary(branch, END), source="bulk")
    _assert_as_fresh(kept, engine)  # the first read of each window builds its view

    kept.ingest.ingest(_summary(1, END + timedelta(hours=1), hours=1), source="new hour")
    _assert_as_fresh(kept, engine)  # appended after the latest time: the rows after it read
    kept.ingest.ingest(_summary(1, END + timedelta(hours=2), hours=1), source="next hour")
    kept.ingest.ingest(_summary(2, END + timedelta(hours=3), hours=1), source="other branch")
    _assert_as_fresh(kept, engine)  # two appends to one series between two reads
    backfill = kept.ingest.ingest(_summary(1, END - timedelta(hours=200), hours=5), source="old")
    assert backfill.inserted > 0 and backfill.updated == 0  # new times, before the latest
    _assert_as_fresh(kept, engine)

    changed = kept.ingest.ingest(
        _summary(2, END - timedelta(hours=70), hours=30, flip=True), source="update"
    )
    assert changed.updated > 0  # values inside the bounded window and above the third's
    _assert_as_fresh(kept, engine)

    kept.ingest.ingest(_summary(3, END, hours=10), source="new branch")  # new teams
    _assert_as_fresh(kept, engine)

    kept.prices.replace_prices(price_list_yaml([company(3)]))  # every row re-priced
    _assert_as_fresh(kept, engine)

    pruned = kept.maintenance.prune(timedelta(hours=110))  # the bounded window shrinks
    assert pruned.observations > 0
    _assert_as_fresh(kept, engine)
    kept.maintenance.prune(timedelta(hours=62))  # and every series leaves it
    assert kept.queries.view(WINDOWS[1]).rows == []
    _assert_as_fresh(kept, engine)

    for hours in range(1, 6):  # read enough other windows to push the kept ones out
        kept.queries.view(Window(since=END - timedelta(hours=hours)))
    kept.ingest.ingest(_summary(2, END + timedelta(hours=2), hours=2), source="after")
    _assert_as_fresh(kept, engine)


def test_a_price_shared_by_many_teams_is_split_among_those_left(engine: Engine) -> None:
    """Past a few users a resource dimension's series are kept as a set: joins and leaves
    on both sides of that size re-split its price as a fresh reader does."""
    kept = _handlers(engine)
    kept.prices.replace_prices(
        "values:\n  shared-db:\n    CPU: 2400\n    RAM: 600\n  own-db:\n    CPU: 90\n"
    )

    def hours_of(team: int, hours: range) -> bytes:
        stamps = [END - timedelta(hours=h) for h in hours]
        readings = [
            f"(shared-db,{dim},{t:%Y-%m-%d %H:%M:%S},{(team * 7 + h) % 100})"
            for h, t in zip(hours, stamps, strict=True)
            for dim in ("CPU", "RAM")
        ]
        readings.append(f"(own-db,CPU,{stamps[0]:%Y-%m-%d %H:%M:%S},{team})")
        return f"team-{team:02d}|{';'.join(readings)}".encode()

    for team in range(24):  # team t reads hours t..t+2 before END: older teams end earlier
        kept.ingest.ingest(hours_of(team, range(team, team + 3)), source=f"t{team}")
        if team in (0, 14, 15, 16, 17, 23):
            _assert_as_fresh(kept, engine)
            assert kept.queries.view().rows == _handlers(engine).queries.view().rows
    for keep in (100, 20, 12, 5):  # 24, 18, 10, 3 teams left: above, then below _FEW
        kept.maintenance.prune(timedelta(hours=keep))
        _assert_as_fresh(kept, engine)
        shown, fresh = kept.queries.view(), _handlers(engine).queries.view()
        assert shown.rows == fresh.rows and shown.costs == fresh.costs
    shared = [
        r
        for r in kept.queries.view().rows
        if r.resource == "shared-db" and r.dimension.value == "CPU"
    ]
    assert len(shared) == 3 and {r.cost for r in shared} == {800}


def test_a_team_gaining_and_losing_one_series_shows_its_other_rows_unchanged(
    engine: Engine,
) -> None:
    """A series joining or leaving a team whose other series did not change: the team's
    rows (kept as one list while none of them changes) are made again all the same."""
    kept = _handlers(engine)

    def readings(resource: str, hours: range, usage: int) -> str:
        return ";".join(
            f"({resource},CPU,{END - timedelta(hours=h):%Y-%m-%d %H:%M:%S},{usage})" for h in hours
        )

    old, recent = range(100, 110), range(0, 10)
    body = f"solo|{readings('old-db', old, 5)};{readings('web', recent, 50)}"
    kept.ingest.ingest(body.encode(), source="first")
    kept.ingest.ingest(f"other|{readings('web', recent, 90)}".encode(), source="other")

    def assert_all_as_fresh() -> None:
        _assert_as_fresh(kept, engine)
        shown, fresh = kept.queries.view(), _handlers(engine).queries.view()
        assert shown.rows == fresh.rows and shown.costs == fresh.costs

    assert_all_as_fresh()
    kept.ingest.ingest(f"solo|{readings('new-db', recent, 95)}".encode(), source="join")
    assert_all_as_fresh()
    assert {r.resource for r in kept.queries.view().rows if r.team == "solo"} == {
        "old-db",
        "web",
        "new-db",
    }
    kept.maintenance.prune(timedelta(hours=50))  # old-db leaves; web and new-db untouched
    assert_all_as_fresh()
    assert {r.resource for r in kept.queries.view().rows if r.team == "solo"} == {"web", "new-db"}
