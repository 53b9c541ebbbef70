"""SPEC 4 rounding and buckets, push validation, and the collector's rendering."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from usagelens.app import DataView, MetricsState
from usagelens.domain.analytics import analyse
from usagelens.domain.distribution import Distribution
from usagelens.domain.errors import PushEventError
from usagelens.domain.histogram import UsageHistogram, round_to_ten
from usagelens.domain.model import ALL_TIME, Dimension
from usagelens.domain.policy import Policy
from usagelens.domain.prices import PriceList
from usagelens.domain.push import DEFAULT_LATENCY_BOUNDS, latency_bucket, parse_push_events
from usagelens.exporter import LiveCollector, Scrape, render_data
from usagelens.ports import PushState


@pytest.mark.parametrize(
    ("usage", "rounded"),
    [(20, 20), (24, 20), (25, 30), (26, 30), (29, 30), (31, 30), (4, 0), (5, 10), (95, 100),
     (100, 100), (0, 0), (14.999, 10), (15, 20), (45, 50), (85, 90), (99.4, 100)],
)  # fmt: skip
def test_round_to_ten_halves_up(usage: float, rounded: int) -> None:
    assert round_to_ten(usage) == rounded


def test_course_example_frequencies_from_cumulative_buckets() -> None:
    buckets = dict(UsageHistogram.of([20, 24, 26, 29, 31]).cumulative())
    assert buckets["20"] - buckets["10"] == 2
    assert buckets["30"] - buckets["20"] == 3
    assert buckets["+Inf"] == 5 and buckets["100"] == 5 and buckets["0"] == 0


def test_histogram_sum_is_of_raw_usages() -> None:
    histogram = UsageHistogram.of([4, 5, 95, 100, 0])
    assert histogram.total == 204 and histogram.count == 5
    assert histogram.frequencies == (2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2)


@pytest.mark.parametrize(
    ("seconds", "le"),
    [(0, "0.01"), (0.01, "0.01"), (0.0100001, "0.5"), (0.5, "0.5"), (1, "1.0"), (1.27, "2.0"),
     (4, "4.0"), (10, "10.0"), (10.000001, "+Inf")],
)  # fmt: skip
def test_a_duration_on_a_bound_counts_in_that_bucket(seconds: float, le: str) -> None:
    assert latency_bucket(seconds, DEFAULT_LATENCY_BOUNDS) == le


def test_push_events_one_or_a_list() -> None:
    one = parse_push_events({"status": 202, "endpoint": "/process-finances", "time": 1.27})
    assert [(e.status, e.endpoint, e.time) for e in one] == [(202, "/process-finances", 1.27)]
    assert len(parse_push_events([{"status": 500, "endpoint": "/x", "time": 0}] * 3)) == 3


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"status": 99, "endpoint": "/a", "time": 1}, "status 99"),
        ({"status": 600, "endpoint": "/a", "time": 1}, "status 600"),
        ({"status": "200", "endpoint": "/a", "time": 1}, "status '200'"),
        ({"status": True, "endpoint": "/a", "time": 1}, "status True"),
        ({"status": 200, "endpoint": "", "time": 1}, "endpoint must be a non-empty"),
        ({"status": 200, "endpoint": "  ", "time": 1}, "endpoint must be a non-empty"),
        ({"status": 200, "endpoint": "/" + "a" * 300, "time": 1}, "longer than 200 characters"),
        ({"status": 200, "endpoint": "/a", "time": -0.1}, "negative"),
        ({"status": 200, "endpoint": "/a", "time": math.inf}, "finite"),
        ({"status": 200, "endpoint": "/a", "time": "fast"}, "finite"),
        ({"status": 200, "endpoint": "/a"}, "missing field(s) time"),
        ([], "no events"),
        ([{"status": 200, "endpoint": "/a", "time": 1}, 5], "event 2"),
    ],
)
def test_bad_push_events(document: object, message: str) -> None:
    with pytest.raises(PushEventError) as caught:
        parse_push_events(document)
    assert message in str(caught.value)


def test_scrape_renders_data_and_live_parts() -> None:
    series = [
        (("team a", "0080", Dimension.CPU), [20.0, 24.0, 26.0, 29.0, 31.0]),
        (("team b", "0080", Dimension.CPU), [5.0, 5.0]),
    ]
    prices = PriceList({"0080": {Dimension.CPU: 10}})
    view = DataView(
        version=7,
        window=ALL_TIME,
        stats=[(key, Distribution.of(usages).stats()) for key, usages in series],
        rows=analyse(series, Policy(), prices),
    )
    state = MetricsState(
        push=PushState({202: 3}, {"/x": (2.5, 3)}, {"/x": {"0.5": 1, "2.0": 2}}),
        counters={"batches_rejected": 2},
        refresh=None,
    )
    registry = CollectorRegistry()
    registry.register(LiveCollector(lambda: state, DEFAULT_LATENCY_BOUNDS))
    text = Scrape.of(render_data(view)).body(generate_latest(registry), gzip=False).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    usage = families["usagelens_resource_usage_percent"].samples
    buckets = {
        s.labels["le"]: s.value
        for s in usage
        if s.name.endswith("_bucket") and s.labels["team"] == "team a"
    }
    assert buckets["20"] - buckets["10"] == 2 and buckets["30"] - buckets["20"] == 3
    sums = {s.labels["team"]: s.value for s in usage if s.name.endswith("_sum")}
    assert sums == {"team a": 130.0, "team b": 10.0}
    costs = {s.labels["team"]: s.value for s in families["usagelens_resource_cost"].samples}
    assert costs == {"team a": 5.0, "team b": 5.0}
    assert families["usagelens_snapshot_version"].samples[0].value == 7
    latency = {
        s.labels["le"]: s.value
        for s in families["http_service_latency_seconds"].samples
        if s.name.endswith("_bucket")
    }
    assert latency == {
        "0.01": 0,
        "0.5": 1,
        "1.0": 1,
        "2.0": 3,
        "3.0": 3,
        "4.0": 3,
        "10.0": 3,
        "+Inf": 3,
    }
    assert families["http_service_requests"].samples[0].value == 3
    batches = {
        s.labels["result"]: s.value
        for s in families["usagelens_ingest_batches"].samples
        if s.name.endswith("_total")
    }
    assert batches == {"accepted": 0, "rejected": 2}


def test_gzip_scrape_is_one_stream() -> None:
    import gzip

    scrape = Scrape.of(b"# data part\n" * 1000)
    assert gzip.decompress(scrape.body(b"live 1\n", gzip=True)) == scrape.data + b"live 1\n"
    assert gzip.decompress(scrape.body(b"live 2\n", gzip=True)) == scrape.data + b"live 2\n"
