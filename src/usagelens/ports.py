"""The interfaces the use cases need; storage and sources implement them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from usagelens.domain.model import IngestResult, Observation, SeriesKey, Window
from usagelens.domain.prices import PriceList

Clock = Callable[[], datetime]
"""Return the current moment, aware and in UTC."""


class Repository(Protocol):
    """Where observations, batches and prices are kept."""

    def store_observations(
        self,
        batch: Sequence[Observation],
        *,
        source: str,
        sha256: str,
        received_at: datetime,
    ) -> IngestResult: ...

    def series(self, window: Window = ...) -> list[tuple[SeriesKey, list[float]]]: ...

    def replace_prices(self, price_list: PriceList) -> None: ...

    def prices(self) -> PriceList: ...

    def batches(self, limit: int = ...) -> list[dict[str, Any]]: ...

    def ping(self) -> None: ...


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
