"""SPEC 2: usage type, intensity and decision, at every boundary, and policy overrides."""

from __future__ import annotations

import textwrap

import pytest

from usagelens.documents import load_document
from usagelens.domain.errors import PolicyError
from usagelens.domain.model import Decision, Intensity, UsageType
from usagelens.domain.policy import Policy, policy_from_document

DEFAULT = Policy()


def test_median_of_an_even_count_is_the_mean_of_the_two_middle_values() -> None:
    verdict = DEFAULT.classify([1, 2, 3, 10])
    assert verdict.median == 2.5
    assert verdict.mean == 4.0


@pytest.mark.parametrize(
    ("median", "intensity"),
    [(0, "low"), (30, "low"), (30.5, "medium"), (60, "medium"), (60.5, "high"), (90, "high"), (90.5, "extreme"), (100, "extreme")],
)  # fmt: skip
def test_intensity_bounds_are_inclusive(median: float, intensity: str) -> None:
    assert DEFAULT.intensity(median) is Intensity(intensity)


@pytest.mark.parametrize(
    ("mean", "median", "usage_type"),
    [(74.9, 100, "falling"), (75, 100, "stable"), (125, 100, "stable"), (125.1, 100, "spiky"), (0, 0, "stable"), (1, 0, "spiky")],
)  # fmt: skip
def test_usage_type_is_strict_against_the_ratios(
    mean: float, median: float, usage_type: str
) -> None:
    assert DEFAULT.usage_type(mean, median) is UsageType(usage_type)


@pytest.mark.parametrize(
    ("usages", "decision", "reason"),
    [
        ([10, 12, 14], "delete", "median 12 ≤ 30: low intensity → delete"),
        ([91, 95, 99], "extend", "median 95 > 90: extreme intensity → extend"),
        ([61, 61, 61, 100, 100], "extend", "median 61 ≤ 90: high intensity, spiky (mean 76.6 > 1.25 × median) → extend"),
        ([70, 75, 80], "keep", "median 75 ≤ 90: high intensity, stable (mean 75) → keep"),
        ([40, 45, 50], "keep", "median 45 ≤ 60: medium intensity, stable (mean 45) → keep"),
        ([0, 0, 50, 55, 60], "keep", "median 50 ≤ 60: medium intensity, falling (mean 33 < 0.75 × median) → keep"),
        ([0, 1, 2, 90, 100], "delete", "median 2 ≤ 30: low intensity → delete"),
    ],
)  # fmt: skip
def test_decision_table_and_reasons(usages: list[float], decision: str, reason: str) -> None:
    verdict = DEFAULT.classify(usages)
    assert verdict.decision is Decision(decision)
    assert verdict.reason == reason
    assert verdict.count == len(usages)


def test_a_decided_median_names_each_series_own_mean() -> None:
    """Series sharing a median and usage type are decided once, and each reason still
    names its own mean; the policy's memory of decided medians stays bounded."""
    policy = Policy()
    first = policy.judge(3, 50.0, 50.0)
    second = policy.judge(3, 52.25, 50.0)
    assert first.reason == "median 50 ≤ 60: medium intensity, stable (mean 50) → keep"
    assert second.reason == "median 50 ≤ 60: medium intensity, stable (mean 52.25) → keep"
    assert policy.judge(3, 20.0, 50.0).reason.endswith("falling (mean 20 < 0.75 × median) → keep")
    for step in range(10_000):
        policy.judge(1, step / 100, step / 100)
    assert len(policy._decided) <= 4096
    assert policy.judge(3, 52.25, 50.0) == second
    assert policy == Policy() and hash(policy) == hash(Policy())


def test_policy_document_overrides_thresholds_and_table() -> None:
    document = load_document(
        textwrap.dedent(
            """
        usage_type: {spiky_above: 2}
        intensity: {low: 10, medium: 50, high: 80}
        decisions:
          - {intensity: low, decision: delete}
          - {intensity: medium, usage_type: falling, decision: delete}
        default: keep
        """
        )
    )
    policy = policy_from_document(document)
    assert policy.low_max == 10
    assert policy.falling_below == 0.75  # a default kept
    assert policy.classify([20, 20, 20]).decision is Decision.KEEP  # medium now
    assert policy.classify([0, 0, 40, 41, 42]).decision is Decision.DELETE
    assert policy.classify([95, 95, 95]).decision is Decision.KEEP  # no extend rule


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"intensity": {"low": 70, "medium": 60, "high": 90}}, "must rise"),
        ({"intensity": {"lowest": 1}}, "unknown key(s) lowest"),
        ({"decisions": [{"intensity": "huge", "decision": "delete"}]}, "'huge' is not one of"),
        ({"decisions": [{"intensity": "low"}]}, "has no 'decision'"),
        ({"usage_type": {"falling_below": "x"}}, "non-negative number"),
        ({"default": "burn"}, "'burn' is not one of"),
        ([1], "policy must be a mapping"),
    ],
)
def test_bad_policy_documents(document: object, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        policy_from_document(document)
    assert message in str(caught.value)
