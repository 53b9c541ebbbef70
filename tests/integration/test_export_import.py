"""export then import into an empty store gives the same rows, money and metrics."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from tests.conftest import run_cli
from usagelens.app import Handlers, build
from usagelens.domain.errors import InvalidInput
from usagelens.domain.policy import policy_from_document
from usagelens.domain.summary import render_summary
from usagelens.exporter import render_data
from usagelens.simulator.data import company
from usagelens.storage import SqlStore, create_engine_for, migrate

STRICT = {"intensity": {"low": 45, "medium": 65, "high": 85}}


@pytest.fixture
def engines() -> Iterator[list[Engine]]:
    opened: list[Engine] = []
    yield opened
    for engine in opened:
        engine.dispose()


def _data_samples(service: Handlers) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The exported data families as samples (order aside), the data version left out."""
    text = render_data(service.queries.view()).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name != "usagelens_snapshot_version"
    }


def test_export_and_import_round_trip(
    database_url: str,
    tmp_path: Path,
    sample_summary: bytes,
    sample_prices: bytes,
    engines: list[Engine],
) -> None:
    def service(url: str) -> Handlers:
        engine = create_engine_for(url)
        engines.append(engine)
        migrate(engine)
        return build(SqlStore(engine), policy=policy_from_document(STRICT))

    source = service(f"sqlite:///{tmp_path / 'source.db'}")
    source.ingest.ingest(sample_summary, source="sample")
    moment = datetime(2026, 6, 1, 12, tzinfo=UTC)
    source.ingest.ingest(render_summary(company(3).observations(moment)).encode(), source="branch")
    source.prices.replace_prices(sample_prices)
    source.pushes.record_pushes(source.pushes.parse_push(b'[{"status": 202, "endpoint": "/a", "time": 0.3}, {"status": 500, '
                b'"endpoint": "/b", "time": 7}]'))  # fmt: skip
    document = json.loads(json.dumps(source.maintenance.export()))  # as it would be written

    target = service(database_url)  # SQLite or PostgreSQL, empty
    empty = target.maintenance.export() | {"exported_at": None}
    plan = target.maintenance.import_plan(document)
    assert (plan.observations, plan.series, plan.pushes, plan.store_empty) == (
        24000 + 24000, 120 + 120, 2, True,
    )  # fmt: skip
    assert plan.price_lists == {"manual": 40}
    broken = {**document, "pushes": {"statuses": {"202": "many"}}}
    with pytest.raises(InvalidInput, match="pushes: not the counts an export holds"):
        target.maintenance.import_plan(broken)
    with pytest.raises(InvalidInput, match="pushes"):
        target.maintenance.import_(broken)  # refused before anything is stored
    assert target.maintenance.export() | {"exported_at": None} == empty
    target.maintenance.import_(document)
    assert not target.maintenance.import_plan(document).store_empty
    assert target.queries.rows() == source.queries.rows()
    assert target.queries.costs_total() == source.queries.costs_total()
    assert target.queries.costs_deleted() == source.queries.costs_deleted()
    assert target.queries.metrics_state().push == source.queries.metrics_state().push
    assert _data_samples(target) == _data_samples(source)

    with pytest.raises(InvalidInput, match="not empty"):
        target.maintenance.import_(document)
    with pytest.raises(InvalidInput, match="not a usagelens export"):
        service(f"sqlite:///{tmp_path / 'other.db'}").maintenance.import_({"observations": ""})


def test_cli_export_import(tmp_path: Path, sample_summary: bytes) -> None:
    summary, backup = tmp_path / "s.txt", tmp_path / "backup.json"
    summary.write_bytes(sample_summary)

    def run(db: str, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env={"USAGELENS_DATABASE_URL": f"sqlite:///{tmp_path / db}"})

    assert run("a.db", "ingest", str(summary)).returncode == 0
    assert run("a.db", "export", "-o", str(backup)).returncode == 0
    restored = run("b.db", "import", str(backup))
    assert restored.returncode == 0, restored.stderr
    assert "imported 24000 observations" in restored.stderr
    before, after = run("a.db", "report", "--json"), run("b.db", "report", "--json")
    first, second = json.loads(before.stdout), json.loads(after.stdout)
    first.pop("generated_at"), second.pop("generated_at")
    assert first == second
    again = run("b.db", "import", str(backup))
    assert again.returncode == 1 and "not empty" in again.stderr
