"""The interfaces the use cases need; storage and sources implement them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from usagelens.domain.model import IngestResult, Observation, SeriesKey, Window
from usagelens.domain.prices import PriceList
from usagelens.domain.push import PushEvent

__all__ = [
    "Clock",
    "PullTarget",
    "PushState",
    "Repository",
    "SnapshotBuilder",
    "StoredSnapshot",
    "TableSource",
    "UsageSource",
]

Clock = Callable[[], datetime]
"""Return the current moment, aware and in UTC."""

SnapshotBuilder = Callable[[list[tuple[SeriesKey, list[float]]], PriceList], str]
"""Turn every stored series and the price list into a serialised metrics snapshot."""


@dataclass(frozen=True, slots=True)
class StoredSnapshot:
    """The metrics snapshot as stored: its version, when it was built, and its payload."""

    version: int
    computed_at: datetime
    payload: str


@dataclass(frozen=True, slots=True)
class PushState:
    """Everything pushed so far: requests by status, latency per endpoint."""

    statuses: dict[int, int]
    endpoints: dict[str, tuple[float, int]]
    """Per endpoint: (sum of seconds, count)."""
    latency: dict[str, dict[str, int]]
    """Per endpoint: per bucket bound label, events in that bucket (not cumulative)."""


class Repository(Protocol):
    """Where observations, batches and prices are kept."""

    def store_observations(
        self,
        batch: Sequence[Observation],
        *,
        source: str,
        sha256: str,
        received_at: datetime,
        rebuild: SnapshotBuilder | None = None,
    ) -> IngestResult: ...

    def series(self, window: Window = ...) -> list[tuple[SeriesKey, list[float]]]: ...

    def replace_prices(
        self, price_list: PriceList, rebuild: SnapshotBuilder | None = None
    ) -> None: ...

    def rebuild_snapshot(self, rebuild: SnapshotBuilder) -> None: ...

    def snapshot(self) -> StoredSnapshot | None: ...

    def record_push(
        self, events: Sequence[PushEvent], bounds: Sequence[float], max_endpoints: int
    ) -> int: ...

    def push_state(self) -> PushState: ...

    def increment(self, name: str, by: int = 1) -> None: ...

    def counters(self) -> dict[str, int]: ...

    def source_position(self, source: str) -> datetime | None: ...

    def set_source_position(self, source: str, position: datetime) -> None: ...

    def lease_refresh(
        self, holder: str, now: datetime, lease_seconds: float, min_interval: float | None
    ) -> bool: ...

    def finish_refresh(
        self, holder: str, now: datetime, ok: int, failed: int, outcome: str
    ) -> None: ...

    def refresh_status(self) -> dict[str, Any] | None: ...

    def prices(self) -> PriceList: ...

    def batches(self, limit: int = ...) -> list[dict[str, Any]]: ...

    def ping(self) -> None: ...


class TableSource(Protocol):
    """A table of observations read incrementally (the course's usage_stats.resources)."""

    name: str

    def fetch_since(self, position: datetime | None) -> list[Observation]:
        """Return the observations collected at or after a position (all when None)."""
        ...


class PullTarget(Protocol):
    """Where pulled data lands: the local store, or a server reached over HTTP."""

    def ingest_summary(self, payload: bytes, *, source: str) -> IngestResult: ...

    def ingest_observations(self, batch: Sequence[Observation], *, source: str) -> IngestResult: ...

    def store_prices(self, price_list: PriceList) -> None: ...

    def source_position(self, source: str) -> datetime | None: ...

    def set_source_position(self, source: str, position: datetime) -> None: ...


class UsageSource(Protocol):
    """A course-compatible monitoring source (SPEC 1.3)."""

    @property
    def name(self) -> str:
        """Return a name for reports and the audit trail (its base URL)."""
        ...

    async def fetch_summary(self, branch: int) -> bytes:
        """Return a branch's usage summary as sent."""
        ...

    async def fetch_prices(self) -> bytes:
        """Return the source's price list as sent."""
        ...
