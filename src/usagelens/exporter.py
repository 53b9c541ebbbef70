"""The Prometheus side: a collector that renders the stored snapshot, and own metrics.

The collector reads; it never computes analytics. Everything it shows lives in the
database, so every worker process answers a scrape with the same numbers. The service's
own request metrics use prometheus_client's multiprocess mode when
``PROMETHEUS_MULTIPROC_DIR`` is set (``usagelens serve --workers N`` sets it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from usagelens.domain.histogram import cumulative_buckets
from usagelens.domain.model import DIMENSIONS, Decision
from usagelens.domain.push import format_bound
from usagelens.services import MetricsState

SERIES = ("team", "resource", "dimension")


class UsageLensCollector(Collector):
    """Render a MetricsState (read fresh from the store on every scrape)."""

    def __init__(self, read: Callable[[], MetricsState], latency_bounds: Sequence[float]) -> None:
        self._read = read
        self._bounds = [format_bound(b) for b in sorted(latency_bounds)]

    def collect(self) -> Iterable[Metric]:
        """Yield every usagelens metric family from one consistent read."""
        state = self._read()
        yield from self._usage(state)
        yield from self._money(state)
        yield from self._push(state)
        yield from self._counters(state)

    def _usage(self, state: MetricsState) -> Iterable[Metric]:
        usage = HistogramMetricFamily(
            "usagelens_resource_usage_percent",
            "Usage observations, each rounded to the nearest 10 (halves up) before bucketing.",
            labels=SERIES,
        )
        for item in state.snapshot.histograms:
            usage.add_metric(
                [item.team, item.resource, item.dimension],
                buckets=item.histogram.cumulative(),
                sum_value=item.histogram.total,
            )
        yield usage

    def _money(self, state: MetricsState) -> Iterable[Metric]:
        snapshot = state.snapshot
        cost = GaugeMetricFamily(
            "usagelens_resource_cost",
            "A team's share of the price of a resource dimension (priced rows only).",
            labels=SERIES,
        )
        decision = GaugeMetricFamily(
            "usagelens_resource_decision",
            "1 for the current decision of a team's resource dimension, 0 for the others.",
            labels=[*SERIES, "decision"],
        )
        decisions = GaugeMetricFamily(
            "usagelens_decisions", "Analytics rows per decision.", labels=["decision"]
        )
        counts = dict.fromkeys((d.value for d in Decision), 0)
        for row in snapshot.rows:
            labels = [str(row["team"]), str(row["resource"]), str(row["dimension"])]
            if row["cost"] is not None:
                cost.add_metric(labels, float(row["cost"]))  # type: ignore[arg-type]
            for option in Decision:
                decision.add_metric([*labels, option.value], float(row["decision"] == option.value))
            counts[str(row["decision"])] += 1
        for name, count in counts.items():
            decisions.add_metric([name], count)
        deleted = GaugeMetricFamily(
            "usagelens_deleted_cost",
            "Money spent on what is to be deleted, per team and dimension.",
            labels=["team", "dimension"],
        )
        for team, amounts in snapshot.deleted_by_team.items():
            for dimension in DIMENSIONS:
                deleted.add_metric([team, dimension.value], amounts[dimension.value])
        total = GaugeMetricFamily(
            "usagelens_total_cost", "Total cost of a team's priced resources.", labels=["team"]
        )
        for team, amount in snapshot.total_by_team.items():
            total.add_metric([team], amount)
        unpriced = GaugeMetricFamily(
            "usagelens_unpriced_resources", "Resources with usage but no price."
        )
        unpriced.add_metric([], len(snapshot.unpriced))
        version = GaugeMetricFamily(
            "usagelens_snapshot_version", "Version of the data snapshot these metrics show."
        )
        version.add_metric([], state.version)
        yield from (cost, decision, decisions, deleted, total, unpriced, version)
        if state.computed_at is not None:
            built = GaugeMetricFamily(
                "usagelens_snapshot_timestamp_seconds", "When the data snapshot was built."
            )
            built.add_metric([], state.computed_at.timestamp())
            yield built

    def _push(self, state: MetricsState) -> Iterable[Metric]:
        requests = CounterMetricFamily(
            "http_service_requests", "Pushed requests by HTTP status.", labels=["status"]
        )
        for status, count in sorted(state.push.statuses.items()):
            requests.add_metric([str(status)], count)
        latency = HistogramMetricFamily(
            "http_service_latency_seconds", "Pushed request durations.", labels=["endpoint"]
        )
        for endpoint, (total, count) in sorted(state.push.endpoints.items()):
            per_bucket = state.push.latency.get(endpoint, {})
            frequencies = [per_bucket.get(label, 0) for label in self._bounds]
            latency.add_metric(
                [endpoint],
                buckets=cumulative_buckets(self._bounds, frequencies, count),
                sum_value=total,
            )
        yield requests
        yield latency

    def _counters(self, state: MetricsState) -> Iterable[Metric]:
        counters = state.counters
        observations = CounterMetricFamily(
            "usagelens_ingested_observations",
            "Observations of accepted payloads, by what storing them did.",
            labels=["outcome"],
        )
        for outcome in ("inserted", "updated", "duplicate"):
            observations.add_metric([outcome], counters.get(f"observations_{outcome}", 0))
        batches = CounterMetricFamily(
            "usagelens_ingest_batches", "Ingested payloads by result.", labels=["result"]
        )
        batches.add_metric(["accepted"], counters.get("batches_accepted", 0))
        batches.add_metric(["rejected"], counters.get("batches_rejected", 0))
        overflow = CounterMetricFamily(
            "usagelens_push_endpoint_overflow",
            'Pushed events counted under endpoint="other" past the endpoint limit.',
        )
        overflow.add_metric([], counters.get("push_endpoint_overflow", 0))
        rejected = CounterMetricFamily(
            "usagelens_push_rejected", "Push requests refused as malformed (nothing counted)."
        )
        rejected.add_metric([], counters.get("push_rejected", 0))
        yield from (observations, batches, overflow, rejected)
        refresh = state.refresh
        if refresh is not None and refresh["finished_at"] is not None:
            finished = GaugeMetricFamily(
                "usagelens_last_refresh_timestamp_seconds", "When the last refresh finished."
            )
            finished.add_metric([], refresh["finished_at"].timestamp())
            pulls = GaugeMetricFamily(
                "usagelens_last_refresh_pulls",
                "Pulls of the last refresh by result.",
                labels=["result"],
            )
            pulls.add_metric(["ok"], refresh["ok"])
            pulls.add_metric(["failed"], refresh["failed"])
            yield from (finished, pulls)


@dataclass(frozen=True, slots=True)
class RequestMetrics:
    """The service's own HTTP metrics."""

    requests: Counter
    duration: Histogram


def build_registry(
    read: Callable[[], MetricsState], latency_bounds: Sequence[float]
) -> tuple[CollectorRegistry, RequestMetrics]:
    """Build the app's own registry: the snapshot collector plus request metrics."""
    registry = CollectorRegistry(auto_describe=False)
    multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
    if multiprocess:
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    own = None if multiprocess else registry
    metrics = RequestMetrics(
        requests=Counter(
            "usagelens_http_requests",
            "Requests this service answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=own,
        ),
        duration=Histogram(
            "usagelens_http_request_duration_seconds",
            "Time this service took to answer, by route template and method.",
            ["route", "method"],
            registry=own,
        ),
    )
    registry.register(UsageLensCollector(read, latency_bounds))
    return registry, metrics
