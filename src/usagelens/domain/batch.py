"""A parsed payload held compactly: readings grouped by series in typed arrays.

A 30 MB summary holds about 800 000 observations; as ``Observation`` objects that is
hundreds of megabytes, as arrays of integers and floats it is about 16 MB. Parsers fill
a ``UsageBatch``; storage reads it series by series.

Times are integers: microseconds since the Unix epoch, UTC (``to_micros``).
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from usagelens.domain.model import Observation, SeriesKey

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_micros(moment: datetime) -> int:
    """Return an aware moment as whole microseconds since the epoch (exact, no float)."""
    return (moment - EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    """Return the aware UTC moment of a microsecond timestamp."""
    return EPOCH + timedelta(microseconds=micros)


@dataclass(slots=True)
class SeriesReadings:
    """One series' readings in payload order: parallel arrays of times and usages."""

    times: array[int] = field(default_factory=lambda: array("q"))
    """Microseconds since the epoch, UTC."""
    usages: array[float] = field(default_factory=lambda: array("d"))

    def append(self, micros: int, usage: float) -> None:
        """Add one reading."""
        self.times.append(micros)
        self.usages.append(usage)

    def repeats(self) -> bool:
        """Tell whether some time occurs more than once."""
        return len(set(self.times)) != len(self.times)

    def __iter__(self) -> Iterator[tuple[int, float]]:
        """Yield (time, usage) in payload order."""
        return zip(self.times, self.usages, strict=True)

    def latest(self) -> dict[int, float]:
        """Return time → usage, a later repeat of a time replacing the earlier one."""
        return dict(zip(self.times, self.usages, strict=True))

    def __len__(self) -> int:
        return len(self.times)


@dataclass(slots=True)
class UsageBatch:
    """Every reading of one payload, grouped by series in order of first appearance."""

    series: dict[SeriesKey, SeriesReadings] = field(default_factory=dict)
    observations: int = 0
    """Readings in the payload, repeats included."""

    def add(self, key: SeriesKey, micros: int, usage: float) -> None:
        """Add one reading of a series."""
        readings = self.series.get(key)
        if readings is None:
            readings = self.series[key] = SeriesReadings()
        readings.append(micros, usage)
        self.observations += 1

    @property
    def teams(self) -> int:
        """Return how many distinct teams the payload names."""
        return len({team for team, _, _ in self.series})

    @property
    def resources(self) -> int:
        """Return how many distinct (team, resource) pairs the payload names."""
        return len({(team, resource) for team, resource, _ in self.series})

    def latest_time(self) -> int | None:
        """Return the latest time of any reading (µs), None for an empty batch."""
        return max((max(r.times) for r in self.series.values() if r.times), default=None)

    def digest(self) -> str:
        """Return a SHA-256 of what the batch holds, the same for the same readings in the
        same order (what re-send detection compares, for batches that were never text)."""
        digest = hashlib.sha256()
        for (team, resource, dimension), readings in self.series.items():
            digest.update(f"{len(team)}:{team}{len(resource)}:{resource}{dimension}".encode())
            digest.update(len(readings).to_bytes(8, "little"))
            digest.update(readings.times.tobytes())
            digest.update(readings.usages.tobytes())
        return digest.hexdigest()

    @classmethod
    def of(cls, observations: Iterable[Observation]) -> UsageBatch:
        """Group observations (e.g. rows of a table source) into a batch."""
        batch = cls()
        for obs in observations:
            batch.add(
                (obs.team, obs.resource, obs.dimension), to_micros(obs.collected_at), obs.usage
            )
        return batch

    def __iter__(self) -> Iterator[Observation]:
        """Yield the readings as observations, series by series."""
        for (team, resource, dimension), readings in self.series.items():
            for micros, usage in zip(readings.times, readings.usages, strict=True):
                yield Observation(team, resource, dimension, from_micros(micros), usage)
