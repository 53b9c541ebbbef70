"""Statistics and the policy that turns them into a decision (SPEC 2).

The defaults are the course's rules: usage type from mean against median, intensity
from the median, and a small decision table. A deployment may override any of it with
a policy document (see ``policy_from_document``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from usagelens.domain.distribution import Distribution
from usagelens.domain.errors import PolicyError
from usagelens.domain.model import Decision, Intensity, UsageType

E = TypeVar("E", Decision, Intensity, UsageType)


@dataclass(frozen=True, slots=True)
class DecisionRule:
    """One line of the decision table; a None condition matches anything."""

    decision: Decision
    intensity: Intensity | None = None
    usage_type: UsageType | None = None

    def matches(self, intensity: Intensity, usage_type: UsageType) -> bool:
        """Tell whether this rule applies to a series of that intensity and usage type."""
        return (self.intensity is None or self.intensity is intensity) and (
            self.usage_type is None or self.usage_type is usage_type
        )


DEFAULT_RULES: tuple[DecisionRule, ...] = (
    DecisionRule(Decision.DELETE, intensity=Intensity.LOW),
    DecisionRule(Decision.EXTEND, intensity=Intensity.EXTREME),
    DecisionRule(Decision.EXTEND, intensity=Intensity.HIGH, usage_type=UsageType.SPIKY),
)


_Decided = tuple[Intensity, Decision, str, str | None]
"""A (median, usage type) decided: intensity, decision, and the reason before and after
the mean's figure (None after: the reason does not name the mean)."""
_DECIDED_KEPT = 4096
"""Decided (median, usage type) pairs a policy keeps (whole percentages need ~400)."""


@dataclass(slots=True)  # read-only by convention: frozen construction costs 2.5× per row
class Classification:
    """The statistics and verdict of one series of usages."""

    count: int
    mean: float
    median: float
    usage_type: UsageType
    intensity: Intensity
    decision: Decision
    reason: str


@dataclass(frozen=True, slots=True)
class Policy:
    """Thresholds and decision table; the defaults are SPEC 2's."""

    falling_below: float = 0.75
    """A series is falling when mean < falling_below × median."""
    spiky_above: float = 1.25
    """A series is spiky when mean > spiky_above × median."""
    low_max: float = 30
    medium_max: float = 60
    high_max: float = 90
    rules: tuple[DecisionRule, ...] = field(default=DEFAULT_RULES)
    """First matching rule wins; none matching gives ``default``."""
    default: Decision = Decision.KEEP
    min_observations: int = 24
    """Observations a row needs before it is actionable and alerted (evidence, KRR's
    minimum); it gates recommendations only, never a decision, so not the fingerprint."""
    _decided: dict[tuple[float, UsageType], _Decided] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )
    """What ``judge`` made of a (median, usage type) before: medians repeat (few distinct
    usages), so most series reuse the intensity, decision and reason text around the mean."""

    def usage_type(self, mean: float, median: float) -> UsageType:
        """Classify a series by its mean against its median."""
        if mean < self.falling_below * median:
            return UsageType.FALLING
        if mean > self.spiky_above * median:
            return UsageType.SPIKY
        return UsageType.STABLE

    def intensity(self, median: float) -> Intensity:
        """Classify a series by its median."""
        if median <= self.low_max:
            return Intensity.LOW
        if median <= self.medium_max:
            return Intensity.MEDIUM
        if median <= self.high_max:
            return Intensity.HIGH
        return Intensity.EXTREME

    def classify(self, usages: Sequence[float]) -> Classification:
        """Compute mean, median, usage type, intensity, decision and its reason."""
        if not usages:
            raise ValueError("cannot classify an empty series")
        stats = Distribution.of(usages).stats()
        return self.judge(stats.count, stats.mean, stats.median)

    def judge(self, count: int, mean: float, median: float) -> Classification:
        """Classify a series from its statistics: usage type, intensity, decision, reason."""
        usage_type = self.usage_type(mean, median)
        decided = self._decided.get((median, usage_type))
        if decided is None:
            decided = self._decide(median, usage_type)
        intensity, decision, head, tail = decided
        return Classification(
            count=count,
            mean=mean,
            median=median,
            usage_type=usage_type,
            intensity=intensity,
            decision=decision,
            reason=head if tail is None else head + _num(mean) + tail,
        )

    def _decide(self, median: float, usage_type: UsageType) -> _Decided:
        """Decide a (median, usage type) and remember it: the reason is cut around the
        mean (the only part that differs between series of the same median)."""
        intensity = self.intensity(median)
        rule = next((r for r in self.rules if r.matches(intensity, usage_type)), None)
        decision = rule.decision if rule else self.default
        head = self._intensity_reason(median, intensity)
        tail: str | None = None
        if rule is None or rule.usage_type is not None:
            mark = "\0"
            before, after = self._usage_reason(mark, usage_type).split(mark)
            head, tail = f"{head}, {before}", f"{after} → {decision}"
        else:
            head = f"{head} → {decision}"
        decided = (intensity, decision, head, tail)
        if len(self._decided) >= _DECIDED_KEPT:
            self._decided.clear()  # bounded: float medians need not repeat
        self._decided[(median, usage_type)] = decided
        return decided

    def to_document(self) -> dict[str, object]:
        """Return the policy as a complete document that ``policy_from_document`` reads."""
        return {
            "usage_type": {
                "falling_below": float(self.falling_below),
                "spiky_above": float(self.spiky_above),
            },
            "intensity": {
                "low": float(self.low_max),
                "medium": float(self.medium_max),
                "high": float(self.high_max),
            },
            "decisions": [
                {
                    **({"intensity": r.intensity.value} if r.intensity else {}),
                    **({"usage_type": r.usage_type.value} if r.usage_type else {}),
                    "decision": r.decision.value,
                }
                for r in self.rules
            ],
            "default": self.default.value,
            "min_observations": self.min_observations,
        }

    @property
    def fingerprint(self) -> str:
        """Return a short hash that two policies share exactly when they decide alike."""
        deciding = {k: v for k, v in self.to_document().items() if k != "min_observations"}
        canonical = json.dumps(deciding, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def _intensity_reason(self, median: float, intensity: Intensity) -> str:
        bound = {
            Intensity.LOW: self.low_max,
            Intensity.MEDIUM: self.medium_max,
            Intensity.HIGH: self.high_max,
        }.get(intensity)
        if bound is None:
            return f"median {_num(median)} > {_num(self.high_max)}: {intensity} intensity"
        return f"median {_num(median)} ≤ {_num(bound)}: {intensity} intensity"

    def _usage_reason(self, mean: str, usage_type: UsageType) -> str:
        if usage_type is UsageType.FALLING:
            return f"falling (mean {mean} < {_num(self.falling_below)} × median)"
        if usage_type is UsageType.SPIKY:
            return f"spiky (mean {mean} > {_num(self.spiky_above)} × median)"
        return f"stable (mean {mean})"


def policy_from_document(document: object) -> Policy:
    """Build a Policy from a decoded document, defaults filling what it leaves out.

    Shape (every key optional)::

        usage_type: {falling_below: 0.75, spiky_above: 1.25}
        intensity: {low: 30, medium: 60, high: 90}
        decisions:
          - {intensity: low, decision: delete}
          - {intensity: high, usage_type: spiky, decision: extend}
        default: keep
        min_observations: 24     # evidence a recommendation needs to be actionable
    """
    if document is None:
        return Policy()
    doc = _mapping(
        document, "policy", {"usage_type", "intensity", "decisions", "default", "min_observations"}
    )
    defaults = Policy()
    usage = _mapping(doc.get("usage_type", {}), "usage_type", {"falling_below", "spiky_above"})
    bounds = _mapping(doc.get("intensity", {}), "intensity", {"low", "medium", "high"})
    policy = Policy(
        falling_below=_number(usage.get("falling_below", defaults.falling_below), "falling_below"),
        spiky_above=_number(usage.get("spiky_above", defaults.spiky_above), "spiky_above"),
        low_max=_number(bounds.get("low", defaults.low_max), "intensity.low"),
        medium_max=_number(bounds.get("medium", defaults.medium_max), "intensity.medium"),
        high_max=_number(bounds.get("high", defaults.high_max), "intensity.high"),
        rules=_rules(doc["decisions"]) if "decisions" in doc else defaults.rules,
        default=_enum(Decision, doc.get("default", defaults.default), "default"),
        min_observations=_count(doc.get("min_observations", defaults.min_observations)),
    )
    if not policy.low_max < policy.medium_max < policy.high_max:
        raise PolicyError("intensity bounds must rise: low < medium < high")
    if policy.falling_below > policy.spiky_above:
        raise PolicyError("usage_type.falling_below must not exceed usage_type.spiky_above")
    return policy


def _rules(raw: object) -> tuple[DecisionRule, ...]:
    if not isinstance(raw, list):
        raise PolicyError("decisions must be a list of rules")
    rules = []
    for index, item in enumerate(raw, start=1):
        rule = _mapping(item, f"decisions[{index}]", {"intensity", "usage_type", "decision"})
        if "decision" not in rule:
            raise PolicyError(f"decisions[{index}] has no 'decision'")
        rules.append(
            DecisionRule(
                decision=_enum(Decision, rule["decision"], f"decisions[{index}].decision"),
                intensity=_optional_enum(Intensity, rule.get("intensity"), f"decisions[{index}]"),
                usage_type=_optional_enum(UsageType, rule.get("usage_type"), f"decisions[{index}]"),
            )
        )
    return tuple(rules)


def _mapping(raw: object, name: str, allowed: set[str]) -> Mapping[str, object]:
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{name} must be a mapping")
    if unknown := sorted(str(k) for k in raw if k not in allowed):
        raise PolicyError(f"{name}: unknown key(s) {', '.join(unknown)}")
    return raw


def _count(raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise PolicyError(f"min_observations must be a whole number ≥ 0, not {raw!r}")
    return raw


def _number(raw: object, name: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw < 0:
        raise PolicyError(f"{name} must be a non-negative number, not {raw!r}")
    return float(raw)


def _enum(kind: type[E], raw: object, name: str) -> E:
    try:
        return kind(str(raw))
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise PolicyError(f"{name}: {raw!r} is not one of {allowed}") from None


def _optional_enum(kind: type[E], raw: object, name: str) -> E | None:
    return None if raw is None else _enum(kind, raw, name)


def _num(value: float) -> str:
    """Format a number for a reason: at most two decimals, no trailing zeros."""
    return f"{value:.2f}".rstrip("0").rstrip(".")
