"""The PromQL mapping: defaults, placeholders, and mistakes refused with a clear message."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from usagelens.config import load_settings
from usagelens.documents import load_document
from usagelens.domain.errors import NotConfigured
from usagelens.domain.model import Dimension
from usagelens.sources.promql import DEFAULT_QUERIES, PromQLMapping, mapping_from_document

EXAMPLE = Path(__file__).parents[2] / "deploy" / "promql.yaml"


def _plain(query: str) -> str:
    return re.sub(r"\s+", "", query)


def test_the_documented_example_is_the_built_in_default() -> None:
    example = mapping_from_document(load_document(EXAMPLE.read_bytes()))
    default = PromQLMapping()
    assert (example.step, example.lookback) == (default.step, default.lookback)
    assert (example.team_label, example.resource_label) == ("team", "instance")
    assert {d: _plain(q) for d, q in example.queries.items()} == {
        d: _plain(q) for d, q in DEFAULT_QUERIES.items()
    }


def test_placeholders_are_filled_from_the_mapping() -> None:
    mapping = mapping_from_document(
        {"step": "15s", "team_label": "namespace", "resource_label": "pod",
         "queries": {"CPU": "rate(x[$range]) by ($team, $resource) at $step"}}
    )  # fmt: skip
    assert mapping.query(Dimension.CPU) == "rate(x[300s]) by (namespace, pod) at 15s"
    assert list(mapping.queries) == [Dimension.CPU]  # the others are left out
    hourly = mapping_from_document({"step": "1h"})
    assert "[3600s]" in hourly.query(Dimension.RAM) and hourly.lookback == timedelta(days=14)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"stpe": "1h"}, "unknown key(s) stpe"),
        ({"step": "0"}, "step: give a duration"),
        ({"step": "fast"}, "step:"),
        ({"team_label": "team-name"}, "is not a Prometheus label name"),
        ({"queries": {"Disk": "x"}}, "unknown dimension 'Disk'"),
        ({"queries": {"CPU": "  "}}, "CPU must be a PromQL expression"),
        ({"queries": {}}, "queries must map"),
        (["step"], "expected a mapping"),
    ],
)
def test_mistakes_are_refused_naming_them(document: object, message: str) -> None:
    with pytest.raises(NotConfigured, match="the PromQL mapping") as caught:
        mapping_from_document(document)
    assert message in str(caught.value)


def test_the_file_or_the_config_section_is_read(tmp_path: Path) -> None:
    mapping = tmp_path / "promql.yaml"
    mapping.write_text("step: 5m\n")
    assert load_settings(promql_file=mapping).load_promql().step == timedelta(minutes=5)
    section = load_settings(promql={"lookback": "2d"}).load_promql()
    assert section.lookback == timedelta(days=2)
    with pytest.raises(NotConfigured, match=r"USAGELENS_PROMQL_FILE=.*cannot read it"):
        load_settings(promql_file=tmp_path / "absent.yaml").load_promql()
    mapping.write_text("step: [\n")
    with pytest.raises(NotConfigured, match="USAGELENS_PROMQL_FILE="):
        load_settings(promql_file=mapping).load_promql()
