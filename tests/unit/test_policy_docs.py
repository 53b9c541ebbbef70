"""The worked examples in docs/policy.md are what the default policy decides."""

from __future__ import annotations

import re
import statistics
from pathlib import Path

import pytest

from usagelens.domain.policy import Policy

DOC = Path(__file__).parents[2] / "docs" / "policy.md"


def _examples() -> list[tuple[list[float], str, str, str]]:
    section = DOC.read_text(encoding="utf-8").split("Worked examples", 1)[1].split("\n\n", 2)[1]
    rows = []
    for line in section.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        usages = [float(u) for u in cells[0].split()]
        rows.append((usages, cells[3], cells[4], cells[5].strip("*")))
    return rows


@pytest.mark.parametrize(("usages", "usage_type", "intensity", "decision"), _examples())
def test_worked_example(
    usages: list[float], usage_type: str, intensity: str, decision: str
) -> None:
    verdict = Policy().judge(len(usages), statistics.fmean(usages), statistics.median(usages))
    assert (verdict.usage_type.value, verdict.intensity.value, verdict.decision.value) == (
        usage_type,
        intensity,
        decision,
    )


def test_the_doc_has_its_examples() -> None:
    assert len(_examples()) >= 6
    assert re.search(r"`median 12\.5 ≤ 30: low intensity → delete`", DOC.read_text())
