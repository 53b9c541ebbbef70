"""Pushed request events (the push-to-pull bridge): validated, summed up, counted in one write."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from usagelens.app.ingest import count_rejected
from usagelens.domain.errors import PushEventError
from usagelens.domain.push import (
    DEFAULT_LATENCY_BOUNDS,
    OVERFLOW_ENDPOINT,
    PushEvent,
    latency_bucket,
    parse_push_body,
)
from usagelens.ports import PushTally, Store


class Pushes:
    """Count pushed events by status, endpoint and latency bucket.

    Past ``max_endpoints`` distinct endpoints, events of new endpoints count under
    ``other``, so a caller cannot grow the exposition without bound.
    """

    def __init__(
        self,
        store: Store,
        *,
        latency_bounds: Sequence[float] = DEFAULT_LATENCY_BOUNDS,
        max_endpoints: int = 100,
    ) -> None:
        self.store = store
        self.latency_bounds = tuple(sorted(latency_bounds))
        self.max_endpoints = max_endpoints

    def parse_push(self, payload: bytes) -> list[PushEvent]:
        """Validate pushed request events (one object or a list); count a refusal."""
        try:
            return parse_push_body(payload)
        except PushEventError:
            count_rejected(self.store, "push_rejected")
            raise

    def record_pushes(self, events: Sequence[PushEvent]) -> int:
        """Count validated events in one transaction; return how many went to ``other``."""
        with self.store.write() as uow:
            known = uow.pushes.endpoints()
            tally, overflow = _tally(events, known, self.latency_bounds, self.max_endpoints)
            uow.pushes.add(tally)
            if overflow:
                uow.counters.add({"push_endpoint_overflow": overflow})
            uow.commit()
        return overflow


def _tally(
    events: Iterable[PushEvent], known: set[str], bounds: Sequence[float], max_endpoints: int
) -> tuple[PushTally, int]:
    """Sum events up by status, endpoint and latency bucket, capping distinct endpoints."""
    tally = PushTally()
    named = len(known - {OVERFLOW_ENDPOINT})
    overflow = 0
    for event in events:
        endpoint = event.endpoint
        if endpoint not in known:
            if named >= max_endpoints and endpoint != OVERFLOW_ENDPOINT:
                endpoint = OVERFLOW_ENDPOINT
                overflow += 1
            else:
                known.add(endpoint)
                named += endpoint != OVERFLOW_ENDPOINT
        tally.statuses[event.status] += 1
        tally.sums[endpoint] = tally.sums.get(endpoint, 0.0) + event.time
        tally.counts[endpoint] += 1
        tally.buckets[(endpoint, latency_bucket(event.time, bounds))] += 1
    return tally, overflow


__all__ = ["Pushes"]
