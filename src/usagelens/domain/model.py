"""Observations and the vocabulary of the rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Dimension(StrEnum):
    """A measured dimension of a resource."""

    CPU = "CPU"
    RAM = "RAM"
    NETFLOW = "NetFlow"


DIMENSIONS: tuple[Dimension, ...] = (Dimension.CPU, Dimension.RAM, Dimension.NETFLOW)


class UsageType(StrEnum):
    """How the mean of a series relates to its median."""

    FALLING = "falling"
    SPIKY = "spiky"
    STABLE = "stable"


class Intensity(StrEnum):
    """How heavily a series is used, from its median."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    EXTREME = "extreme"


class Decision(StrEnum):
    """What to do with a resource's dimension."""

    DELETE = "delete"
    KEEP = "keep"
    EXTEND = "extend"


SeriesKey = tuple[str, str, Dimension]
"""(team, resource, dimension): one analytics row."""


@dataclass(frozen=True, slots=True)
class Observation:
    """One usage reading: a team's resource dimension at a moment, in percent."""

    team: str
    resource: str
    dimension: Dimension
    collected_at: datetime
    """Aware, in UTC."""
    usage: float

    @property
    def key(self) -> tuple[str, str, Dimension, datetime]:
        """Return the identity of the observation (everything but the usage)."""
        return (self.team, self.resource, self.dimension, self.collected_at)


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open time window [since, until) over collected_at; None is unbounded."""

    since: datetime | None = None
    until: datetime | None = None


ALL_TIME = Window()
"""Every stored observation."""


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What storing one payload did: every observation is inserted, updated or a duplicate."""

    batch_id: int
    observations: int
    inserted: int
    updated: int
    duplicates: int
    teams: int
    resources: int
