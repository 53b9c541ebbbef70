"""SPEC 3: shared costs, unpriced resources, totals, and the five report formats."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import independent
from usagelens.api import ui
from usagelens.api.ui.report import render_report as render_html
from usagelens.app import DataView
from usagelens.documents import load_price_list
from usagelens.domain.analytics import analyse
from usagelens.domain.distribution import Distribution
from usagelens.domain.model import ALL_TIME, Dimension
from usagelens.domain.money import deleted_costs, total_costs
from usagelens.domain.policy import Policy
from usagelens.domain.prices import PriceList
from usagelens.domain.report import (
    _md,
    build_report,
    render_csv,
    render_json,
    render_markdown,
    render_text,
)
from usagelens.domain.summary import parse_summary_bytes
from usagelens.exporter import render_data

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _series(observations):  # type: ignore[no-untyped-def]
    grouped: dict = {}
    for obs in observations:
        grouped.setdefault((obs.team, obs.resource, obs.dimension), []).append(obs.usage)
    return list(grouped.items())


@pytest.fixture(scope="module")
def sample_rows(sample_summary: bytes, sample_prices: bytes):  # type: ignore[no-untyped-def]
    return analyse(
        _series(parse_summary_bytes(sample_summary)), Policy(), load_price_list(sample_prices)
    )


def test_sample_gives_the_known_numbers(sample_rows) -> None:  # type: ignore[no-untyped-def]
    assert len(sample_rows) == 120
    decisions = [r.decision.value for r in sample_rows]
    assert (decisions.count("keep"), decisions.count("delete"), decisions.count("extend")) == (
        85,
        34,
        1,
    )
    assert total_costs(sample_rows).total == 33951
    assert deleted_costs(sample_rows).by_dimension == {"CPU": 5344, "RAM": 2492, "NetFlow": 1443}
    assert total_costs(sample_rows).unpriced == []


def test_sample_agrees_with_an_independent_implementation(
    sample_rows,
    sample_summary: bytes,
    sample_prices: bytes,  # type: ignore[no-untyped-def]
) -> None:
    from usagelens.documents import load_document

    prices = load_document(sample_prices)["values"]  # type: ignore[index]
    expected = independent.rows(independent.parse(sample_summary.decode()), prices)
    key = lambda r: (r["team"], r["resource"], r["dimension"])  # noqa: E731
    ours = {key(r): r for r in (vars_of(row) for row in sample_rows)}
    assert len(ours) == len(expected)
    for row in expected:
        mine = ours[key(row)]
        for field in ("count", "usage_type", "intensity", "decision"):
            assert mine[field] == row[field], (key(row), field)
        for field in ("mean", "median", "cost"):
            assert mine[field] == pytest.approx(row[field], abs=1e-9), (key(row), field)


def vars_of(row) -> dict:  # type: ignore[no-untyped-def]
    return {
        "team": row.team, "resource": row.resource, "dimension": row.dimension.value,
        "count": row.count, "mean": row.mean, "median": row.median,
        "usage_type": row.usage_type.value, "intensity": row.intensity.value,
        "decision": row.decision.value, "cost": row.cost,
    }  # fmt: skip


def test_shared_resource_price_is_split_evenly_and_unpriced_is_listed() -> None:
    series = [
        (("a", "R1", Dimension.CPU), [10.0]),
        (("b", "R1", Dimension.CPU), [10.0]),
        (("c", "R1", Dimension.CPU), [80.0]),
        (("a", "R1", Dimension.RAM), [10.0]),
        (("a", "NOPRICE", Dimension.CPU), [10.0]),
    ]
    prices = PriceList({"R1": {Dimension.CPU: 100.0, Dimension.RAM: 9.0}})
    rows = analyse(series, Policy(), prices)
    cost = {(r.team, r.resource, r.dimension): r.cost for r in rows}
    assert cost[("a", "R1", Dimension.CPU)] == pytest.approx(100 / 3)
    assert cost[("a", "R1", Dimension.RAM)] == 9.0
    assert cost[("a", "NOPRICE", Dimension.CPU)] is None
    totals = total_costs(rows)
    assert totals.total == pytest.approx(109)
    assert totals.teams == pytest.approx({"a": 100 / 3 + 9, "b": 100 / 3, "c": 100 / 3})
    assert totals.unpriced == ["NOPRICE"]
    deleted = deleted_costs(rows)
    assert deleted.teams["a"] == pytest.approx(
        {"CPU": 100 / 3, "RAM": 9.0, "NetFlow": 0.0, "total": 100 / 3 + 9}
    )
    assert deleted.teams["c"]["total"] == 0
    assert deleted.total == pytest.approx(2 * 100 / 3 + 9)


def test_every_format_renders_the_sample(sample_rows) -> None:  # type: ignore[no-untyped-def]
    report = build_report(sample_rows, "RUB", NOW, ALL_TIME)
    text = render_text(report)
    assert "Team: envisioneer rich mindshare" in text
    assert "Total cost: 33,951.00 RUB" in text
    assert "(CPU 5,344.00, RAM 2,492.00, NetFlow 1,443.00)" in text
    assert "Rows: 120 (34 delete, 85 keep, 1 extend)" in text
    header = next(line for line in text.splitlines() if line.startswith("Resource"))
    assert header.split() == [
        "Resource",
        "Dimension",
        "Mean",
        "Median",
        "Usage",
        "type",
        "Intensity",
        "Decision",
        "Cost",
    ]

    markdown = render_markdown(report)
    assert "## seize holistic users" in markdown and "|---|---|---:|---:|" in markdown

    parsed = list(csv.DictReader(io.StringIO(render_csv(report))))
    assert len(parsed) == 120
    assert sum(float(r["cost"]) for r in parsed) == pytest.approx(33951)

    document = json.loads(json.dumps(render_json(report)))
    assert document["total"] == 33951
    assert document["deleted"]["by_dimension"] == {"CPU": 5344, "RAM": 2492, "NetFlow": 1443}
    assert sum(len(t["rows"]) for t in document["teams"]) == 120

    page = render_html(report)
    assert page.startswith("<!doctype html>") and "<style>" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert "98F•063" in page
    # the dashboard's look: its stylesheet, the summary first, then a section per team
    assert (Path(ui.__file__).parent / "templates" / "_style.css").read_text().strip() in page
    assert page.index('id="summary"') < page.index('id="team-1"')
    assert '<p class="figure" id="total-cost">33,951.00 RUB</p>' in page
    assert '<dd data-dimension="CPU">5,344.00 RUB</dd>' in page
    assert '<dd data-decision="delete">34</dd>' in page
    assert page.count('<section id="team-') == len(report.teams) == 4


def test_html_escapes_names() -> None:
    rows = analyse([(("<b>team</b>", "R&1", Dimension.CPU), [5.0])], Policy(), PriceList({}))
    page = render_html(build_report(rows, "EUR", NOW, ALL_TIME))
    assert "<b>team</b>" not in page and "&lt;b&gt;team&lt;/b&gt;" in page
    assert "unpriced" in render_text(build_report(rows, "EUR", NOW, ALL_TIME))


@pytest.mark.parametrize("width", [80, 120])
def test_text_report_fits_its_width_and_cuts_long_names(sample_rows, width: int) -> None:  # type: ignore[no-untyped-def]
    long_team, long_resource = "t" * 150, "R" * 140
    rows = [
        *sample_rows,
        dataclasses.replace(sample_rows[0], team=long_team, resource=long_resource),
    ]
    text = render_text(build_report(rows, "RUB", NOW, ALL_TIME), width)
    assert max(len(line) for line in text.splitlines()) <= width
    assert f"Team: {long_team[: width - 7]}…" in text
    assert "RRRR…" in text and long_resource not in text
    assert "(CPU 5,344.00, RAM 2,492.00, NetFlow 1,443.00)" in text


HOSTILE_TEAMS = [
    "<script>alert(1)</script>",
    '=HYPERLINK("http://evil")',
    "+SUM(A1)",
    "-2+3",
    "@cmd",
    "\tTab",
    "a | b\nnew row",
    "**bold** [x](http://e) `c`",
]


@pytest.mark.parametrize("team", HOSTILE_TEAMS)
def test_hostile_names_are_data_in_every_format(sample_rows, team: str) -> None:  # type: ignore[no-untyped-def]
    rows = [dataclasses.replace(sample_rows[0], team=team, resource=team)]
    report = build_report(rows, "RUB", NOW, ALL_TIME)

    page = render_html(report)
    assert "<script>" not in page and "alert(1)</script>" not in page

    markdown = render_markdown(report)
    assert "<script>" not in markdown
    table = [line for line in markdown.splitlines() if line.startswith("| ")]
    unescaped_pipes = {line.replace("\\|", "").count("|") for line in table}
    assert len(unescaped_pipes) == 1  # no cell breaks the table

    cells = list(csv.reader(io.StringIO(render_csv(report))))[1]
    for cell in cells[:2]:  # team, resource
        assert cell[0] not in "=+-@\t\r", cell
        assert cell.lstrip("'") == team

    stats = [((team, team, rows[0].dimension), Distribution.of([10.0, 20.0]).stats())]
    exposition = render_data(DataView(1, ALL_TIME, stats, rows)).decode()
    labels = {
        s.labels["team"]
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
        if "team" in s.labels
    }
    assert labels == {team}


@pytest.mark.parametrize("resource", ["R<i>1</i>", "**bold** `c`", "a|b"])
def test_unpriced_names_are_escaped_in_markdown_too(sample_rows, resource: str) -> None:  # type: ignore[no-untyped-def]
    rows = [dataclasses.replace(sample_rows[0], resource=resource, cost=None)]
    markdown = render_markdown(build_report(rows, "RUB", NOW, ALL_TIME))
    (line,) = [line for line in markdown.splitlines() if line.startswith("- Unpriced")]
    assert line.endswith(_md(resource)) and resource not in line
    assert "<i>" not in markdown
