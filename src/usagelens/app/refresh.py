"""Refresh: pull every configured source under the store's lease, fenced by its token, and
keep table sources' read positions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime

from usagelens.app.ingest import Ingest
from usagelens.app.prices import Prices
from usagelens.domain.batch import UsageBatch
from usagelens.domain.errors import LeaseLost
from usagelens.domain.ids import check_locator
from usagelens.domain.model import IngestResult
from usagelens.domain.prices import OriginPrices
from usagelens.ports import RangeSource, Store, TableSource, UsageSource
from usagelens.pulls import PullOutcome, outcome_dict, pull_into

INTERRUPTED = "interrupted by a shutdown: every batch stored is whole; the next refresh pulls again"


class Refresh:
    """Run refreshes one at a time across processes and hosts, and keep table positions."""

    def __init__(self, store: Store, *, ingest: Ingest, prices: Prices) -> None:
        self.store = store
        self.ingest = ingest
        self.prices = prices

    def source_position(self, source: str) -> datetime | None:
        """Return how far a table source has been read."""
        check_locator(source, "source")
        with self.store.read() as queries:
            return queries.position(source)

    def set_source_position(
        self, source: str, position: datetime, *, fence: int | None = None
    ) -> None:
        """Move a table source's read position forward (refused once ``fence``'s lease is lost)."""
        check_locator(source, "source")
        with self.store.write() as uow:
            if fence is not None and not uow.refresh.holds(fence):
                raise LeaseLost("the refresh lease ran out: the read position was not moved")
            uow.refresh.set_position(source, position)
            uow.commit()

    def status(self) -> dict[str, object]:
        """Return the last refresh: started_at, finished_at, ok, failed, running, pulls."""
        with self.store.read() as queries:
            status = queries.refresh_status()
        if status is None:
            return {"running": False, "started_at": None, "finished_at": None,
                    "ok": 0, "failed": 0, "pulls": []}  # fmt: skip
        return {
            "running": status.holder is not None,
            "started_at": status.started_at,
            "finished_at": status.finished_at,
            "ok": status.ok,
            "failed": status.failed,
            "pulls": list(json.loads(status.outcome)) if status.outcome else [],
        }

    def lease(self, holder: str, lease_seconds: float, min_interval: float | None) -> int | None:
        """Take the refresh lease (None: another holder has it, or one ran too recently)."""
        with self.store.write() as uow:
            token = uow.refresh.lease(holder, lease_seconds, min_interval)
            uow.commit()
        return token

    def finish(self, token: int, outcomes: list[PullOutcome]) -> bool:
        """Record a refresh's outcomes and free its lease, unless the lease was lost."""
        ok = sum(o.ok for o in outcomes)
        record = json.dumps([outcome_dict(o) for o in outcomes], ensure_ascii=False)
        with self.store.write() as uow:
            finished = uow.refresh.finish(token, ok, len(outcomes) - ok, record)
            uow.commit()
        return finished

    async def run_exclusive(
        self,
        sources: Sequence[UsageSource],
        branches: Sequence[int],
        *,
        holder: str,
        tables: Sequence[TableSource] = (),
        range_sources: Sequence[RangeSource] = (),
        min_interval: float | None = None,
        lease_seconds: float = 600.0,
        concurrency: int | None = None,
    ) -> list[PullOutcome] | None:
        """Refresh unless another process is refreshing (or one did within min_interval).

        Returns None when the lease was not taken; otherwise the outcomes, which are also
        recorded as the last refresh's state. The lease is fenced: once it has run out,
        this refresh can no longer replace price lists, move read positions or record its
        outcome (each summary it pulled is still stored whole, like any other ingest).
        """
        token = await asyncio.to_thread(self.lease, holder, lease_seconds, min_interval)
        if token is None:
            return None
        outcomes: list[PullOutcome] = []
        try:
            outcomes = await pull_into(
                StoreTarget(self, token), sources, branches, tables=tables,
                range_sources=range_sources, concurrency=concurrency,
            )  # fmt: skip
        except asyncio.CancelledError:  # shutting down: whole batches stay, the rest waits
            outcomes = [PullOutcome("", "refresh", None, False, INTERRUPTED)]
            raise
        finally:
            await asyncio.shield(asyncio.to_thread(self.finish, token, outcomes))
        return outcomes


class StoreTarget:
    """The local store as the target of a pull (``PullTarget``).

    Given a refresh's lease token (``fence``), its lasting writes (price lists, read
    positions) hold only while that lease does; without one (``collect`` into the local
    store) they are not fenced.
    """

    def __init__(self, refresh: Refresh, fence: int | None = None) -> None:
        self._refresh = refresh
        self._token = fence

    def ingest_summary(self, payload: bytes, *, source: str) -> IngestResult:
        """Store a pulled summary (whole or not at all, fenced or not: it is data)."""
        return self._refresh.ingest.ingest_summary(payload, source=source)

    def ingest_batch(self, batch: UsageBatch, *, source: str, clamped: int = 0) -> IngestResult:
        """Store readings a positioned source gave (a table's rows, PromQL samples)."""
        return self._refresh.ingest.ingest_batch(batch, source=source, clamped=clamped)

    def store_source_prices(self, lists: Sequence[OriginPrices]) -> list[str]:
        """Replace the answering sources' lists while the lease holds."""
        return self._refresh.prices.store_price_lists(lists, fence=self._token)

    def source_position(self, source: str) -> datetime | None:
        """Return how far a table source has been read."""
        return self._refresh.source_position(source)

    def set_source_position(self, source: str, position: datetime) -> None:
        """Move a table source's read position while the lease holds."""
        self._refresh.set_source_position(source, position, fence=self._token)


__all__ = ["INTERRUPTED", "Refresh", "StoreTarget"]
