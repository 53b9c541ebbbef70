"""The data (from the project's simulator), the naive baseline, and the write figures.

Every payload is generated deterministically: ``company(branch).observations(end)`` is
4 teams × 10 resources × 3 dimensions × 200 hourly observations (120 series) of a branch.
"""

from __future__ import annotations

import math
import sqlite3
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from harness import Api, say

from usagelens.domain.summary import render_summary
from usagelens.simulator.data import HOURS, company, price_list_yaml

END = datetime(2026, 11, 27, 12, tzinfo=UTC)
"""The last hour of every generated history (fixed, so every run sends the same data)."""
SERIES_PER_BRANCH = 120
OBS_PER_BRANCH = SERIES_PER_BRANCH * HOURS


def branches_for(series: int, first: int = 1) -> range:
    """The branches holding (at least) that many series."""
    return range(first, first + math.ceil(series / SERIES_PER_BRANCH))


def branch_summary(branch: int) -> bytes:
    """A branch's course-sized summary: 200 hours of its 120 series, ending at ``END``."""
    return render_summary(company(branch).observations(END)).encode()


def joined_summary(branches: Sequence[int]) -> bytes:
    """Several branches' 200 hours joined into one summary."""
    return render_summary(
        obs for branch in branches for obs in company(branch).observations(END)
    ).encode()


def hour_summary(branches: Sequence[int], offset: int) -> bytes:
    """One hour (``END`` + ``offset`` hours) of every series of the branches."""
    moment = END + timedelta(hours=offset)
    return render_summary(
        obs for branch in branches for obs in company(branch).observations(moment, hours=1)
    ).encode()


def price_list(branches: Sequence[int]) -> str:
    """The merged price list of the branches (YAML)."""
    return price_list_yaml([company(branch) for branch in branches])


class HourFeed:
    """Hands out the hours after ``END``, each once, so every write is a genuinely new hour."""

    def __init__(self) -> None:
        self.offset = 0
        self.observations = 0

    def next(self, branches: Sequence[int]) -> bytes:
        """The next new hour of every series of the branches."""
        self.offset += 1
        self.observations += len(branches) * SERIES_PER_BRANCH
        return hour_summary(branches, self.offset)


class NaiveBaseline:
    """The course-style script: split the text, ``executemany`` into SQLite, commit per summary.

    No HTTP, no validation, nothing counted: the floor that a service should reach.
    """

    def __init__(self, path: Path) -> None:
        self.connection = sqlite3.connect(path)
        self.connection.execute(
            "CREATE TABLE usage (team TEXT, resource TEXT, dimension TEXT, collected_at TEXT,"
            " usage REAL, PRIMARY KEY (team, resource, dimension, collected_at))"
        )
        self.connection.commit()

    def ingest(self, payload: bytes) -> float:
        """Parse and store one summary; return the seconds it took."""
        start = time.perf_counter()
        rows = []
        for chunk in payload.decode().split("$"):
            team, records = chunk.split("|")
            for record in records.split(";"):
                resource, dimension, collected_at, usage = record.strip("()").split(",")
                rows.append((team, resource, dimension, collected_at, float(usage)))
        self.connection.executemany("INSERT OR REPLACE INTO usage VALUES (?,?,?,?,?)", rows)
        self.connection.commit()
        return time.perf_counter() - start

    def close(self) -> None:
        """Close the database."""
        self.connection.close()


@dataclass
class Loaded:
    """A bulk load: observations sent, and the seconds the server and the naive script took."""

    observations: int = 0
    server_seconds: float = 0.0
    naive_seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Server ingest rate, observations per second."""
        return self.observations / self.server_seconds

    @property
    def naive_rate(self) -> float:
        """Naive script rate, observations per second."""
        return self.observations / self.naive_seconds

    def add(self, other: Loaded) -> None:
        """Accumulate another load into this one."""
        self.observations += other.observations
        self.server_seconds += other.server_seconds
        self.naive_seconds += other.naive_seconds


def load_branches(
    api: Api,
    naive: NaiveBaseline,
    branches: Sequence[int],
    *,
    concurrency: int,
    chunk: int = 50,
    total: Loaded | None = None,
) -> Loaded:
    """Send each branch's summary to the server (``concurrency`` in flight) and to the naive
    script, ``chunk`` branches at a time, generating each chunk just before it is sent (only
    the sending is timed); print a progress line per chunk; return this load's figures.
    """
    loaded = Loaded()
    total = total if total is not None else loaded
    for start in range(0, len(branches), chunk):
        payloads = [branch_summary(branch) for branch in branches[start : start + chunk]]
        part = Loaded(observations=OBS_PER_BRANCH * len(payloads))
        began = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(api.ingest, payloads))
        part.server_seconds = time.perf_counter() - began
        part.naive_seconds = sum(naive.ingest(payload) for payload in payloads)
        loaded.add(part)
        if total is not loaded:
            total.add(part)
        say(
            f"  … branch {branches[start] + len(payloads) - 1:>4}: "
            f"{total.observations:>11,} obs stored; this chunk {part.rate:>9,.0f} obs/s "
            f"(naive {part.naive_rate:,.0f}); running {total.rate:,.0f} obs/s"
        )
    return loaded


@dataclass(frozen=True)
class NewHour:
    """One new hour into a big store versus into a store holding about one hour."""

    big_ms: float
    small_ms: float
    big_samples: list[float]
    small_samples: list[float]

    @property
    def ratio(self) -> float:
        """Big store time ÷ one-hour store time."""
        return self.big_ms / self.small_ms


def new_hours(
    big: Api,
    small: Api,
    feed: HourFeed,
    branches: Sequence[int],
    repetitions: int,
    after: Callable[[], None] | None = None,
) -> NewHour:
    """Post a new hour of the branches' series to the one-hour store, then to the big one,
    ``repetitions`` times; ``after`` runs after each big post (e.g. a cold read). Medians, ms.
    """
    big_times, small_times = [], []
    for _ in range(repetitions):
        payload = feed.next(branches)
        small_times.append(small.ingest(payload) * 1000)
        big_times.append(big.ingest(payload) * 1000)
        if after is not None:
            after()
    return NewHour(
        statistics.median(big_times), statistics.median(small_times), big_times, small_times
    )


def start_hour_store(api: Api, branches: Sequence[int]) -> None:
    """Price and fill a store with one hour (``END``) of every series of the branches."""
    api.put_prices(price_list(branches))
    api.ingest(hour_summary(branches, 0))


def resend_rates(api: Api, branch: int, repetitions: int = 3) -> tuple[float, float]:
    """Re-send a branch's (already stored) summary: observations per second of the first
    re-send (other writes came since it was stored, so it is parsed and compared), then
    the median of ``repetitions`` more (nothing written since: known by its SHA-256)."""
    payload = branch_summary(branch)
    first = api.ingest(payload)
    again = statistics.median(api.ingest(payload) for _ in range(repetitions))
    return OBS_PER_BRANCH / first, OBS_PER_BRANCH / again


WINDOW = "/api/v1/resources?limit=10&since=" + quote(
    (END - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
)
"""A 7-day window read, ending at the data's end."""
COSTS_DELETED = "/api/v1/costs/deleted"
COLD_READS = {"window": WINDOW, "costs_deleted": COSTS_DELETED, "metrics_gzip": "/metrics"}
"""The reads measured first after a write (all asking for gzip)."""


def cold_reads(
    api: Api, feed: HourFeed, branches: Sequence[int], repetitions: int = 3
) -> dict[str, float]:
    """Milliseconds of each of ``COLD_READS`` first after a write of one new hour of the
    branches' series (the median of ``repetitions``), every read warm before, so that
    only the write is new."""
    result = {}
    for key, path in COLD_READS.items():
        for warm in COLD_READS.values():
            api.get(warm, **{"Accept-Encoding": "gzip"})
        cold = []
        for _ in range(repetitions):
            api.ingest(feed.next(branches))
            cold.append(api.get(path, **{"Accept-Encoding": "gzip"}).seconds)
        result[key] = statistics.median(cold) * 1000
    return result
