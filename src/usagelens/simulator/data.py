"""Deterministic usage data for a simulated company branch.

A branch always has the same 4 teams × 10 resources, each dimension following one usage
profile; the usage at a given hour is a hash of (branch, series, hour), so pulling the same
branch twice within an hour gives identical data and an hour later shifts by one reading.
Profiles are dealt so that every decision (delete, keep, extend) and every usage type
occurs in every branch.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from usagelens.domain.model import DIMENSIONS, Dimension, Observation
from usagelens.domain.times import as_utc

TEAMS_PER_BRANCH = 4
RESOURCES_PER_TEAM = 10
HOURS = 200

_VERBS = (
    "envisioneer", "deploy", "whiteboard", "seize", "synergize", "incubate", "orchestrate",
    "monetize", "harness", "streamline", "empower", "transition", "reinvent", "iterate",
)  # fmt: skip
_ADJECTIVES = (
    "rich", "cross-media", "customized", "holistic", "scalable", "frictionless", "real-time",
    "granular", "bleeding-edge", "sticky", "viral", "robust", "turn-key", "best-of-breed",
)  # fmt: skip
_NOUNS = (
    "mindshare", "synergies", "e-services", "users", "platforms", "paradigms", "channels",
    "metrics", "eyeballs", "deliverables", "architectures", "portals", "web-readiness",
)  # fmt: skip
_LETTERS = "ABCDEFHIJKLMNOPRSTUVWXYZ"
_PLATES: tuple[Callable[[random.Random], str], ...] = (
    lambda r: _l(r, 3) + _d(r, 4),  # SZY1417
    lambda r: _l(r, 3) + " " + _d(r, 3),  # SBP 366
    lambda r: _l(r, 3) + "-" + _d(r, 3),  # RTZ-957
    lambda r: _d(r, 1) + "-" + _d(r, 4) + _l(r, 1),  # 7-6317O
    lambda r: _d(r, 4),  # 0080, 6690
    lambda r: _d(r, 6),  # 840110
    lambda r: _d(r, 2) + _l(r, 1) + "•" + _d(r, 3),  # 98F•063
    lambda r: _d(r, 3) + " " + _l(r, 3),  # 704 PXA
    lambda r: _d(r, 4) + " " + _l(r, 2),  # 4023 TM
)


def _l(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(_LETTERS) for _ in range(n))


def _d(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


@dataclass(frozen=True, slots=True)
class Profile:
    """A usage distribution: a mixture of (weight, low, high) integer ranges."""

    name: str
    parts: tuple[tuple[float, int, int], ...]

    def sample(self, u: float, v: float) -> int:
        """Map two uniforms in [0, 1) to an integer usage."""
        for weight, low, high in self.parts:
            if u < weight:
                return low + int(v * (high - low + 1))
            u -= weight
        _, low, high = self.parts[-1]
        return low + int(v * (high - low + 1))


# Each profile lands on one verdict under the default policy.
PROFILES = {
    "idle": Profile("idle", ((0.8, 0, 25), (0.2, 0, 60))),  # low → delete
    "steady": Profile("steady", ((1.0, 35, 58),)),  # medium stable → keep
    "falling": Profile("falling", ((0.40, 0, 5), (0.60, 50, 60))),  # medium falling → keep
    "busy": Profile("busy", ((1.0, 64, 86),)),  # high stable → keep
    "bursty": Profile("bursty", ((0.56, 62, 63), (0.44, 99, 100))),  # high spiky → extend
    "saturated": Profile("saturated", ((0.9, 93, 100), (0.1, 70, 100))),  # extreme → extend
    "sparse": Profile("sparse", ((0.7, 2, 6), (0.3, 40, 100))),  # low spiky → delete
}
_WEIGHTS = {
    "idle": 5,
    "steady": 6,
    "falling": 2,
    "busy": 4,
    "bursty": 1,
    "saturated": 1,
    "sparse": 2,
}


@dataclass(frozen=True, slots=True)
class Series:
    """One team's resource dimension and the profile its usage follows."""

    team: str
    resource: str
    dimension: Dimension
    profile: Profile
    seed: int


@dataclass(frozen=True, slots=True)
class Company:
    """A simulated company branch: its series and its prices."""

    branch: int
    series: tuple[Series, ...]
    prices: dict[str, dict[Dimension, int]]

    def observations(self, end: datetime, hours: int = HOURS) -> list[Observation]:
        """Return ``hours`` hourly observations per series, the last one at ``end``'s hour."""
        end = as_utc(end)
        anchor = end.replace(minute=59, second=47, microsecond=0)
        if anchor > end:
            anchor -= timedelta(hours=1)
        first_hour = int(anchor.timestamp()) // 3600 - hours + 1
        moments = [anchor - timedelta(hours=hours - 1 - i) for i in range(hours)]
        return [
            Observation(
                s.team,
                s.resource,
                s.dimension,
                moment,
                float(s.profile.sample(*_uniforms(s.seed, first_hour + i))),
            )
            for s in self.series
            for i, moment in enumerate(moments)
        ]


def company(branch: int) -> Company:
    """Return the simulated company of a branch (the same every time)."""
    rng = random.Random(f"usagelens-simulator-branch-{branch}")
    teams: list[str] = []
    while len(teams) < TEAMS_PER_BRANCH:
        name = f"{rng.choice(_VERBS)} {rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"
        if name not in teams:
            teams.append(name)
    resources: list[str] = []
    while len(resources) < TEAMS_PER_BRANCH * RESOURCES_PER_TEAM - 1:
        plate = rng.choice(_PLATES)(rng)
        if plate not in resources:
            resources.append(plate)
    # The last team shares its last resource with the first team (a shared cost to split).
    resources.append(resources[0])
    count = len(resources) * len(DIMENSIONS)
    names = list(PROFILES)  # each profile at least once, the rest by weight
    names += rng.choices(list(_WEIGHTS), weights=list(_WEIGHTS.values()), k=count - len(names))
    rng.shuffle(names)
    series = tuple(
        Series(
            team=teams[i // RESOURCES_PER_TEAM],
            resource=resource,
            dimension=dimension,
            profile=PROFILES[names[i * len(DIMENSIONS) + j]],
            seed=rng.getrandbits(63),
        )
        for i, resource in enumerate(resources)
        for j, dimension in enumerate(DIMENSIONS)
    )
    prices = {
        resource: {
            Dimension.CPU: rng.randint(50, 900),
            Dimension.RAM: rng.randint(20, 600),
            Dimension.NETFLOW: rng.randint(5, 250),
        }
        for resource in dict.fromkeys(resources)
    }
    return Company(branch, series, prices)


def price_list_yaml(companies: list[Company]) -> str:
    """Render the merged price list as the module does: bare keys, one line per price."""
    lines = ["values:"]
    merged: dict[str, dict[Dimension, int]] = {}
    for item in companies:
        merged.update(item.prices)
    for resource in sorted(merged):
        lines.append(f"  {_yaml_key(resource)}:")
        for dimension in sorted(merged[resource], key=lambda d: d.value):
            lines.append(f"    {dimension.value}: {merged[resource][dimension]}")
    return "\n".join(lines) + "\n"


def _yaml_key(key: str) -> str:
    # Bare like the module writes them, unless YAML could not read the key back at all.
    if key[0] in "-?:,[]{}#&*!|>'\"%@`" or ": " in key or " #" in key:
        return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return key


def _uniforms(seed: int, hour: int) -> tuple[float, float]:
    """Two uniforms in [0, 1) from (seed, hour): splitmix64, cheap and stable."""
    x = (seed ^ (hour * 0x9E3779B97F4A7C15)) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    x ^= x >> 31
    return (x >> 32) / 2**32, (x & 0xFFFFFFFF) / 2**32
