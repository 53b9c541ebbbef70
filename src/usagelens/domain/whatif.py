"""Policy what-if: which rows a candidate policy would decide otherwise, and the money.

Nothing is stored or changed: the candidate judges the statistics the current rows
already hold (count, mean, median), which are the same under every policy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from usagelens.domain.analytics import AnalyticsRow
from usagelens.domain.model import Decision
from usagelens.domain.money import DeletedCosts, deleted_costs
from usagelens.domain.policy import Policy


@dataclass(frozen=True, slots=True)
class DecisionChange:
    """One row whose decision the candidate policy changes."""

    before: AnalyticsRow
    after: AnalyticsRow


@dataclass(frozen=True, slots=True)
class PolicyDiff:
    """The rows a candidate policy decides otherwise, and how the money would move."""

    rows: int
    changes: list[DecisionChange]
    decisions_before: dict[Decision, int]
    decisions_after: dict[Decision, int]
    deleted_before: DeletedCosts
    deleted_after: DeletedCosts

    def to_document(self, currency: str) -> dict[str, object]:
        """Return the diff as plain data (the API's JSON and ``policy diff --json``)."""

        def money(costs: DeletedCosts) -> dict[str, float]:
            return {**costs.by_dimension, "total": costs.total}

        before, after = money(self.deleted_before), money(self.deleted_after)
        return {
            "currency": currency,
            "rows": self.rows,
            "changed": len(self.changes),
            "decisions": {
                "before": {d.value: n for d, n in self.decisions_before.items()},
                "after": {d.value: n for d, n in self.decisions_after.items()},
            },
            "deleted_cost": {
                "before": before,
                "after": after,
                "change": {key: after[key] - before[key] for key in before},
            },
            "changes": [
                {
                    "team": c.before.team,
                    "resource": c.before.resource,
                    "dimension": c.before.dimension.value,
                    "before": c.before.decision.value,
                    "after": c.after.decision.value,
                    "reason": c.after.reason,
                    "cost": c.before.cost,
                }
                for c in self.changes
            ],
        }


def diff_policy(rows: Sequence[AnalyticsRow], candidate: Policy) -> PolicyDiff:
    """Judge every row again under ``candidate``; report what changes."""
    after = []
    for row in rows:
        after.append(replace(row, verdict=candidate.judge(row.count, row.mean, row.median)))
    changes = [
        DecisionChange(old, new)
        for old, new in zip(rows, after, strict=True)
        if old.decision is not new.decision
    ]
    return PolicyDiff(
        rows=len(rows),
        changes=changes,
        decisions_before=_counts(rows),
        decisions_after=_counts(after),
        deleted_before=deleted_costs(rows),
        deleted_after=deleted_costs(after),
    )


def _counts(rows: Sequence[AnalyticsRow]) -> dict[Decision, int]:
    counted = Counter(row.decision for row in rows)
    return {decision: counted[decision] for decision in Decision}
