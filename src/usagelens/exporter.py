"""The Prometheus side: the data families rendered once per data version, and the rest.

A scrape is two parts. The data families (usage histograms, money and decision gauges:
most of the bytes, thousands of series) depend only on the stored data, so they are
rendered once per data version by ``render_data`` and served from that rendering (and
its gzip state) until the data changes. The small, live families (pushed events,
counters, the last refresh, the service's own request metrics) are collected on every
scrape from a prometheus_client registry. Every number lives in the database, so every
worker process answers alike; own request metrics use prometheus_client's multiprocess
mode when ``PROMETHEUS_MULTIPROC_DIR`` is set (``usagelens serve --workers N`` sets it).
"""

from __future__ import annotations

import contextlib
import glob
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from usagelens.app import DataView, MetricsState
from usagelens.app.collector import collector_paused
from usagelens.domain.analytics import AnalyticsRow
from usagelens.domain.distribution import SeriesStats
from usagelens.domain.errors import InvalidInput
from usagelens.domain.histogram import USAGE_BOUNDS, cumulative_buckets
from usagelens.domain.model import DIMENSIONS, Decision, Dimension, SeriesKey
from usagelens.domain.push import format_bound
from usagelens.scrape import Block, Blocks, Scrape, block_ends

__all__ = [
    "FAMILIES",
    "LiveCollector",
    "RenderCache",
    "RequestMetrics",
    "Scrape",
    "build_registry",
    "chosen_families",
    "live_part",
    "render_data",
    "render_pieces",
]

_USAGE = "usagelens_resource_usage_percent"
_LAST = list(Dimension)[-1]
"""The last dimension of a resource in report order (a block may end after it)."""
_LE = tuple(str(bound) for bound in USAGE_BOUNDS)


def _escape(value: str) -> str:
    """Escape a label value for the exposition formats."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _number(value: float) -> str:
    """Format a sample value the way prometheus_client does (Go's float formatting)."""
    text = repr(float(value))
    if text.find(".") <= 6 and "n" not in text:  # Python's and Go's forms agree (not inf/nan)
        return text
    return str(floatToGoString(value))  # type: ignore[no-untyped-call]


def _header(name: str, kind: str, help_text: str) -> str:
    return f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n"


_HOLE = b"\0"
"""Where a series' labels go in the line templates below (never in an escaped label)."""
_HISTOGRAM_LINES = b"".join(
    [f'{_USAGE}_bucket{{\0,le="{le}"}} %d.0\n'.encode() for le in (*_LE, "+Inf")]
    + [f"{_USAGE}_count{{\0}} %d.0\n".encode(), f"{_USAGE}_sum{{\0}} %b\n".encode()]
)
_DECISION_LINES = {
    chosen: b"".join(
        f'usagelens_resource_decision{{\0,decision="{option.value}"}} '
        f"{'1.0' if option is chosen else '0.0'}\n".encode()
        for option in Decision
    )
    for chosen in Decision
}


@lru_cache(maxsize=1 << 18)
def _series_labels(team: str, resource: str, dimension: str) -> tuple[bytes, bytes]:
    """A series' label set (UTF-8), as is and with ``%`` doubled for the %-templates.

    Labels never change for a series, so they are escaped and encoded once per process;
    a rendering then only fills them and the numbers into the templates above. Only the
    labels are kept, not a filled template a series: at 50,000 series those were 88 MB a
    process, and filling one in costs ~0.3 µs.
    """
    labels = f'team="{_escape(team)}",resource="{_escape(resource)}",dimension="{dimension}"'
    encoded = labels.encode()
    return encoded, encoded.replace(b"%", b"%%")


DATA_FAMILIES = (
    _USAGE,
    "usagelens_resource_cost",
    "usagelens_resource_decision",
    "usagelens_decisions",
    "usagelens_deleted_cost",
    "usagelens_total_cost",
    "usagelens_unpriced_resources",
    "usagelens_snapshot_version",
)
"""The families ``render_data`` renders, in order."""

RECOMMENDATION_FAMILIES = (
    "usagelens_recommendations",
    "usagelens_recommendations_enough_data",
    "usagelens_recommendation_money",
    "usagelens_team_budget_ratio",
)
"""The families ``render_recommendations`` renders, in order."""

LIVE_FAMILIES = (
    "http_service_requests",
    "http_service_latency_seconds",
    "usagelens_ingested_observations",
    "usagelens_ingest_batches",
    "usagelens_pruned_observations",
    "usagelens_push_endpoint_overflow",
    "usagelens_push_rejected",
    "usagelens_source_values_clamped",
    "usagelens_last_refresh_timestamp_seconds",
    "usagelens_last_refresh_pulls",
    "usagelens_http_requests",
    "usagelens_http_request_duration_seconds",
    "usagelens_auth_failures",
)
"""The families collected fresh on every scrape (counters named without ``_total``)."""

FAMILIES = frozenset(DATA_FAMILIES + RECOMMENDATION_FAMILIES + LIVE_FAMILIES)


def chosen_families(names: Iterable[str]) -> frozenset[str] | None:
    """Read ``/metrics?family=…`` values: None (every family) when there are none.

    A counter may be named with or without ``_total``. An unknown name is InvalidInput
    naming the known ones, so that a typo in a scrape config is seen, not an empty scrape.
    """
    wanted = set()
    for name in names:
        family = name.removesuffix("_total") if name not in FAMILIES else name
        if family not in FAMILIES:
            raise InvalidInput(
                f"no metric family {name!r}; the families are: {', '.join(sorted(FAMILIES))}"
            )
        wanted.add(family)
    return frozenset(wanted) or None


class RenderCache:
    """The blocks of the last rendering of each per-series family, kept by a process so that
    a scrape after a write renders only the blocks whose series changed (``scrape.Blocks``)."""

    def __init__(self) -> None:
        self.usage, self.cost, self.decision = Blocks(), Blocks(), Blocks()


def render_data(view: DataView, families: frozenset[str] | None = None) -> bytes:
    """Render the data families of a view in the text format (valid OpenMetrics too);
    only ``families`` if given (the usage histograms are most of the bytes)."""
    return b"".join(p.plain if isinstance(p, Block) else p for p in render_pieces(view, families))


def render_pieces(
    view: DataView, families: frozenset[str] | None = None, cache: RenderCache | None = None
) -> list[Block | bytes]:
    """Render the data families of a view as pieces: the per-series lines in blocks (from
    ``cache``'s last rendering where their series did not change), the rest as bytes."""
    with collector_paused():
        return _render_pieces(view, families, cache or RenderCache())


def _render_pieces(
    view: DataView, families: frozenset[str] | None, cache: RenderCache
) -> list[Block | bytes]:

    def wanted(name: str) -> bool:
        return families is None or name in families

    out: list[Block | bytes] = []
    keys = [key for key, _ in view.stats]
    ends = block_ends(keys, _LAST)
    if wanted(_USAGE):
        out.append(
            _header(
                _USAGE,
                "histogram",
                "Usage observations, each rounded to the nearest 10 (halves up) before bucketing.",
            ).encode()
        )
        stats = [series for _, series in view.stats]
        out += cache.usage.render(keys, stats, ends, _histogram_lines)
    rows = view.rows
    if len(rows) != len(keys):  # a kept view lists rows and statistics in the same order;
        ends = block_ends([(r.team, r.resource, r.dimension) for r in rows], _LAST)  # else: own
    if wanted("usagelens_resource_cost"):
        out.append(
            _header(
                "usagelens_resource_cost",
                "gauge",
                "A team's share of the price of a resource dimension (priced rows only).",
            ).encode()
        )
        out += cache.cost.render(rows, rows, ends, _cost_line)
    if wanted("usagelens_resource_decision"):
        out.append(
            _header(
                "usagelens_resource_decision",
                "gauge",
                "1 for the current decision of a team's resource dimension, 0 for the others.",
            ).encode()
        )
        out += cache.decision.render(rows, rows, ends, _decision_lines)
    counts = dict.fromkeys(Decision, 0)
    for row in view.rows:
        counts[row.decision] += 1
    tail = []
    if wanted("usagelens_decisions"):
        tail.append(_header("usagelens_decisions", "gauge", "Analytics rows per decision."))
        tail += [f'usagelens_decisions{{decision="{d.value}"}} {n}.0\n' for d, n in counts.items()]
    if wanted("usagelens_deleted_cost"):
        tail.append(
            _header(
                "usagelens_deleted_cost",
                "gauge",
                "Money spent on what is to be deleted, per team and dimension.",
            )
        )
        for team, amounts in view.deleted.teams.items():
            for dimension in DIMENSIONS:
                tail.append(
                    f'usagelens_deleted_cost{{team="{_escape(team)}",'
                    f'dimension="{dimension.value}"}} {_number(amounts[dimension.value])}\n'
                )
    if wanted("usagelens_total_cost"):
        tail.append(
            _header("usagelens_total_cost", "gauge", "Total cost of a team's priced resources.")
        )
        for team, amount in view.costs.teams.items():
            tail.append(f'usagelens_total_cost{{team="{_escape(team)}"}} {_number(amount)}\n')
    if wanted("usagelens_unpriced_resources"):
        tail.append(
            _header("usagelens_unpriced_resources", "gauge", "Resources with usage but no price.")
        )
        tail.append(f"usagelens_unpriced_resources {len(view.costs.unpriced)}.0\n")
    if wanted("usagelens_snapshot_version"):
        tail.append(
            _header(
                "usagelens_snapshot_version",
                "gauge",
                "Version of the stored data these metrics show (grows with every change).",
            )
        )
        tail.append(f"usagelens_snapshot_version {view.version}.0\n")
    out.append("".join(tail).encode())
    return out


def _histogram_lines(key: SeriesKey, stats: SeriesStats) -> bytes:
    team, resource, dimension = key
    template = _HISTOGRAM_LINES.replace(_HOLE, _series_labels(team, resource, dimension.value)[1])
    total = _number(stats.total).encode()
    return template % (*accumulate(stats.frequencies), stats.count, stats.count, total)


def _cost_line(key: AnalyticsRow, row: AnalyticsRow) -> bytes:
    if row.cost is None:
        return b""
    labels = _series_labels(row.team, row.resource, row.dimension.value)[0]
    return b"usagelens_resource_cost{%b} %b\n" % (labels, _number(row.cost).encode())


def _decision_lines(key: AnalyticsRow, row: AnalyticsRow) -> bytes:
    labels = _series_labels(row.team, row.resource, row.dimension.value)[0]
    return _DECISION_LINES[row.decision].replace(_HOLE, labels)


def render_recommendations(
    summary: Mapping[str, Any],
    budgets: Mapping[str, float],
    costs: Mapping[str, float],
    families: frozenset[str] | None = None,
) -> bytes:
    """Render the recommendation families: counts by state and decision (all, and those with
    enough data), money by state, and each budgeted team's cost as a share of its budget;
    only ``families`` if given."""

    def wanted(name: str) -> bool:
        return families is None or name in families

    out = []
    for name, key, help_text in (
        ("usagelens_recommendations", "counts", "Recommendations by state and decision."),
        (
            "usagelens_recommendations_enough_data",
            "counts_enough_data",
            "Recommendations with enough data (policy min_observations) by state and decision.",
        ),
    ):
        if not wanted(name):
            continue
        out.append(_header(name, "gauge", help_text))
        for state, by_decision in summary[key].items():
            for decision, count in by_decision.items():
                out.append(f'{name}{{state="{state}",decision="{decision}"}} {count}.0\n')
    if wanted("usagelens_recommendation_money"):
        out.append(
            _header(
                "usagelens_recommendation_money",
                "gauge",
                "Money of recommendations: actionable, dismissed, excluded, claimed, realised.",
            )
        )
        for state, amount in summary["money"].items():
            out.append(f'usagelens_recommendation_money{{state="{state}"}} {_number(amount)}\n')
    if budgets and wanted("usagelens_team_budget_ratio"):
        out.append(
            _header(
                "usagelens_team_budget_ratio",
                "gauge",
                "A team's total cost as a share of its monthly budget (1 is all of it).",
            )
        )
        for team, budget in sorted(budgets.items()):
            ratio = costs.get(team, 0.0) / budget
            out.append(f'usagelens_team_budget_ratio{{team="{_escape(team)}"}} {_number(ratio)}\n')
    return "".join(out).encode()


class LiveCollector(Collector):
    """Collect pushed events, counters and the last refresh (read fresh on every scrape)."""

    def __init__(self, read: Callable[[], MetricsState], latency_bounds: Sequence[float]) -> None:
        self._read = read
        self._bounds = [format_bound(b) for b in sorted(latency_bounds)]

    def collect(self) -> Iterable[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        """Yield the live families from one read of the store."""
        state = self._read()
        yield from self._push(state)
        yield from self._counters(state)

    def _push(self, state: MetricsState) -> Iterable[CounterMetricFamily | HistogramMetricFamily]:
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

    def _counters(self, state: MetricsState) -> Iterable[CounterMetricFamily | GaugeMetricFamily]:
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
        pruned = CounterMetricFamily(
            "usagelens_pruned_observations", "Observations deleted by retention (prune)."
        )
        pruned.add_metric([], counters.get("observations_pruned", 0))
        overflow = CounterMetricFamily(
            "usagelens_push_endpoint_overflow",
            'Pushed events counted under endpoint="other" past the endpoint limit.',
        )
        overflow.add_metric([], counters.get("push_endpoint_overflow", 0))
        rejected = CounterMetricFamily(
            "usagelens_push_rejected", "Push requests refused as malformed (nothing counted)."
        )
        rejected.add_metric([], counters.get("push_rejected", 0))
        clamped = CounterMetricFamily(
            "usagelens_source_values_clamped",
            "Readings a pull brought into 0..100 (rate artefacts of PromQL sources).",
        )
        clamped.add_metric([], counters.get("source_values_clamped", 0))
        yield from (observations, batches, pruned, overflow, rejected, clamped)
        refresh = state.refresh
        if refresh is not None and refresh.finished_at is not None:
            finished = GaugeMetricFamily(
                "usagelens_last_refresh_timestamp_seconds", "When the last refresh finished."
            )
            finished.add_metric([], refresh.finished_at.timestamp())
            pulls = GaugeMetricFamily(
                "usagelens_last_refresh_pulls",
                "Pulls of the last refresh by result.",
                labels=["result"],
            )
            pulls.add_metric(["ok"], refresh.ok)
            pulls.add_metric(["failed"], refresh.failed)
            yield from (finished, pulls)


@dataclass(frozen=True, slots=True)
class RequestMetrics:
    """The service's own HTTP metrics."""

    requests: Counter
    duration: Histogram
    auth_failures: Counter


class _WorkerFiles(Collector):
    """Collect every worker's own request metrics from the multiprocess folder.

    prometheus_client's MultiProcessCollector, minus the files that are still empty: a
    worker creates its file and sizes it only afterwards, and an empty file read in
    between fails the whole merge, so the scrape (client_python issue 1199, in 0.26
    still). An empty file holds no sample yet; once sized, it reads as it should.
    """

    def __init__(self, folder: str) -> None:
        self._folder = folder

    def collect(self) -> Iterable[Metric]:
        """Merge the files that hold something, as MultiProcessCollector does."""
        files = []
        for path in glob.glob(os.path.join(self._folder, "*.db")):
            with contextlib.suppress(FileNotFoundError):
                if os.path.getsize(path) > 0:
                    files.append(path)
        metrics: Iterable[Metric] = MultiProcessCollector.merge(  # type: ignore[no-untyped-call]
            files, accumulate=True
        )
        return metrics


def build_registry(
    read: Callable[[], MetricsState], latency_bounds: Sequence[float]
) -> tuple[CollectorRegistry, RequestMetrics]:
    """Build the app's own registry: the live collector plus request metrics."""
    registry = CollectorRegistry(auto_describe=False)
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        registry.register(_WorkerFiles(folder))
    own = None if folder else registry
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
        auth_failures=Counter(
            "usagelens_auth_failures",
            "Requests refused for a missing or wrong token.",
            ["reason"],
            registry=own,
        ),
    )
    registry.register(LiveCollector(read, latency_bounds))
    return registry, metrics


class _Only(Collector):
    """The families of another registry whose names are chosen."""

    def __init__(self, registry: CollectorRegistry, families: frozenset[str]) -> None:
        self._registry = registry
        self._families = families

    def collect(self) -> Iterable[Metric]:
        """Yield the chosen families (a counter's name is without ``_total`` here)."""
        return (m for m in self._registry.collect() if m.name in self._families)


def live_part(
    registry: CollectorRegistry, accept: str, families: frozenset[str] | None = None
) -> tuple[bytes, str]:
    """Render the live families (only ``families`` if given) for a scraper's Accept
    header; return bytes, content type."""
    encoder, content_type = choose_encoder(accept)
    if families is None:
        return encoder(registry), content_type
    only = CollectorRegistry(auto_describe=False)
    only.register(_Only(registry, families))
    return encoder(only), content_type
