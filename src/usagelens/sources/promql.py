"""Any server of the Prometheus HTTP API as a source: Prometheus, Thanos Query, Mimir or
Cortex (under ``/prometheus``), VictoriaMetrics.

A ``PromQLMapping`` says which PromQL gives each dimension's usage (0 to 100) per team and
resource, and at which step. A pull asks ``/api/v1/query_range`` for every step since the
source's stored position (the last step stored, asked again for late samples; the first
pull reaches back ``lookback``), in chunks that stay within Prometheus's 11,000 points per
series and within a points budget per answer, so memory is bounded however long the gap.
Each (chunk, dimension) is one page, one batch. A missing step or a NaN stores nothing;
a value below 0 or above 100 is clamped and counted; a series without the team or the
resource label is skipped, counted and named. A PromQL error (Prometheus's 400 or 422
with ``errorType``/``error``) fails the pull with Prometheus's words, at once; network
errors and 5xx are retried with backoff, all within one deadline per request.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
from array import array
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from usagelens.domain.batch import SeriesReadings, UsageBatch, from_micros
from usagelens.domain.errors import NotConfigured, SourceError, SourceUnavailable
from usagelens.domain.ids import name_problem
from usagelens.domain.model import Dimension
from usagelens.domain.times import parse_duration, utc_now
from usagelens.ports import BAD_ROWS_NAMED, Clock, SourcePage
from usagelens.sources.http import DEFAULT_DEADLINE, DEFAULT_MAX_BYTES, NO_RETRY, RetryPolicy
from usagelens.sources.urls import promql_base

MAX_POINTS_PER_SERIES = 11_000
"""Prometheus refuses a query_range of more points per series than this."""
POINTS_PER_ANSWER = 100_000
"""Points asked of one answer at most (once the number of series is known)."""
FIRST_CHUNK_STEPS = 48
"""Steps of the first chunk, before the number of series is known."""
ASSUMED_SERIES = 1000
"""Series per answer assumed until an answer holds more (an empty range says nothing)."""
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_DELIMITERS = frozenset("$|;,()")
_NETWORK_DEVICES = 'device!~"lo|veth.*|docker.*|br-.*|ifb.*|virbr.*|cni.*|flannel.*"'
ASSUMED_LINK_BYTES = 125_000_000
"""Link speed assumed where node_exporter knows none (1 Gbit/s, in bytes per second)."""

DEFAULT_QUERIES: dict[Dimension, str] = {
    Dimension.CPU: (
        '100 * (1 - avg by ($team, $resource) (rate(node_cpu_seconds_total{mode="idle"}[$range])))'
    ),
    Dimension.RAM: (
        "100 * (1 - avg by ($team, $resource) ("
        "avg_over_time(node_memory_MemAvailable_bytes[$range])"
        " / avg_over_time(node_memory_MemTotal_bytes[$range])))"
    ),
    Dimension.NETFLOW: (
        "100 * max by ($team, $resource) ("
        f"(rate(node_network_transmit_bytes_total{{{_NETWORK_DEVICES}}}[$range])"
        " / (node_network_speed_bytes > 0))"
        f" or (rate(node_network_transmit_bytes_total{{{_NETWORK_DEVICES}}}[$range])"
        f" / {ASSUMED_LINK_BYTES}))"
    ),
}
"""node_exporter: CPU busy %, memory used %, transmit bytes as % of link speed; they need
only a ``team`` label on the target. ``$team``, ``$resource``, ``$range`` and ``$step`` are
replaced by the mapping's labels, the rate window (the step, at least 5m) and the step."""


@dataclass(frozen=True, slots=True)
class PromQLMapping:
    """How a PromQL server's series become observations."""

    step: timedelta = timedelta(hours=1)
    """One observation per series per step, at step-aligned times."""
    lookback: timedelta = timedelta(days=14)
    """How far back the first pull of a source reaches."""
    team_label: str = "team"
    resource_label: str = "instance"
    queries: Mapping[Dimension, str] = field(default_factory=lambda: dict(DEFAULT_QUERIES))
    """PromQL giving 0..100 per (team, resource), by dimension; one may be left out."""

    def query(self, dimension: Dimension) -> str:
        """Return a dimension's PromQL with its placeholders filled in."""
        seconds = int(self.step.total_seconds())
        rate_window = max(seconds, 300)
        return (
            self.queries[dimension]
            .replace("$team", self.team_label)
            .replace("$resource", self.resource_label)
            .replace("$range", f"{rate_window}s")
            .replace("$step", f"{seconds}s")
        )


_KEYS = {"step", "lookback", "team_label", "resource_label", "queries"}


def mapping_from_document(document: object, where: str = "the PromQL mapping") -> PromQLMapping:
    """Validate a decoded mapping (YAML or JSON); keys left out keep their defaults.

    Raises NotConfigured naming ``where`` and what is wrong.
    """
    if document is None:
        return PromQLMapping()
    if not isinstance(document, Mapping):
        raise NotConfigured(f"{where}: expected a mapping of {', '.join(sorted(_KEYS))}")
    unknown = sorted(str(k) for k in document if k not in _KEYS)
    if unknown:
        raise NotConfigured(f"{where}: unknown key(s) {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for key in ("step", "lookback"):
        if key in document:
            values[key] = _span(document[key], f"{where}: {key}")
    if values.get("step", timedelta(seconds=1)) < timedelta(seconds=1):
        raise NotConfigured(f"{where}: step must be at least 1s")
    for key in ("team_label", "resource_label"):
        if key in document:
            label = document[key]
            if not isinstance(label, str) or not _LABEL.fullmatch(label):
                raise NotConfigured(f"{where}: {key} {label!r} is not a Prometheus label name")
            values[key] = label
    if "queries" in document:
        values["queries"] = _queries(document["queries"], where)
    return PromQLMapping(**values)


def _span(value: object, what: str) -> timedelta:
    try:
        seconds = parse_duration(str(value))
    except ValueError as exc:
        raise NotConfigured(f"{what}: {exc}") from None
    if not seconds:
        raise NotConfigured(f"{what}: give a duration such as 15s, 1h or 14d")
    return timedelta(seconds=seconds)


def _queries(value: object, where: str) -> dict[Dimension, str]:
    dimensions = {d.value: d for d in Dimension}
    if not isinstance(value, Mapping) or not value:
        raise NotConfigured(f"{where}: queries must map CPU, RAM and/or NetFlow to PromQL")
    queries: dict[Dimension, str] = {}
    for name, query in value.items():
        dimension = dimensions.get(str(name))
        if dimension is None:
            raise NotConfigured(
                f"{where}: queries: unknown dimension {name!r} (CPU, RAM or NetFlow)"
            )
        if not isinstance(query, str) or not query.strip():
            raise NotConfigured(f"{where}: queries: {name} must be a PromQL expression")
        queries[dimension] = query.strip()
    return queries


class PromQLSource:
    """Pull one PromQL server step by step from its stored position (a ``RangeSource``).

    ``url`` is ``prometheus+http://HOST:PORT[/PREFIX]`` (or ``prometheus+https://``); it
    names the source (its position, its outcomes). Each request ends within ``deadline``
    seconds, tries and backoff included, and reads at most ``max_bytes``.
    """

    def __init__(
        self,
        url: str,
        client: httpx.AsyncClient,
        mapping: PromQLMapping | None = None,
        *,
        retry: RetryPolicy = NO_RETRY,
        deadline: float = DEFAULT_DEADLINE,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
    ) -> None:
        self.name = url
        self.base_url = promql_base(url)
        self.mapping = mapping or PromQLMapping()
        self._client = client
        self._retry = retry
        self._deadline = deadline
        self._max_bytes = max_bytes
        self._clock = clock
        self._rng = rng or random.Random()

    async def pages(self, position: datetime | None) -> AsyncIterator[SourcePage]:
        """Yield a page per (chunk of steps, dimension); the last of a chunk moves the
        position to the chunk's last step."""
        step = int(self.mapping.step.total_seconds())
        now = int(self._clock().timestamp())
        end = now // step * step
        if position is None:
            start = -(-(now - int(self.mapping.lookback.total_seconds())) // step) * step
        else:
            start = int(position.timestamp()) // step * step
        chunk = FIRST_CHUNK_STEPS
        series = ASSUMED_SERIES  # until an answer says how many there are
        skipped: set[tuple[Dimension, frozenset[tuple[str, str]]]] = set()
        dimensions = list(self.mapping.queries)
        while start <= end:
            last = min(end, start + (chunk - 1) * step)
            widest = 0
            for i, dimension in enumerate(dimensions):
                result = await self._query_range(self.mapping.query(dimension), start, last, step)
                widest = max(widest, len(result))
                page = self._page(result, dimension, skipped)
                final = i == len(dimensions) - 1
                yield SourcePage(
                    page.batch,
                    page.bad,
                    page.problems,
                    page.clamped,
                    position=from_micros(last * 1_000_000) if final else None,
                )
            start = last + step
            series = max(series, widest)
            chunk = max(1, min(MAX_POINTS_PER_SERIES, POINTS_PER_ANSWER // series))

    def _page(
        self,
        result: list[Any],
        dimension: Dimension,
        skipped: set[tuple[Dimension, frozenset[tuple[str, str]]]],
    ) -> SourcePage:
        """Turn a query_range matrix into a batch of one dimension's readings; a series
        skipped is counted once per pull (``skipped`` holds those seen in earlier chunks)."""
        team_label, resource_label = self.mapping.team_label, self.mapping.resource_label
        batch = UsageBatch()
        bad = clamped = 0
        problems: list[str] = []
        for series in result:
            labels = series.get("metric") or {}
            team, resource = labels.get(team_label), labels.get(resource_label)
            why = _refusal(team, team_label) or _refusal(resource, resource_label)
            if why is not None:
                seen = (dimension, frozenset((str(k), str(v)) for k, v in labels.items()))
                if seen not in skipped:
                    skipped.add(seen)
                    bad += 1
                    if len(problems) < BAD_ROWS_NAMED:
                        problems.append(f"{dimension} series {_labels(labels)}: {why}")
                continue
            assert isinstance(team, str)
            assert isinstance(resource, str)
            values = series.get("values") or ()
            if not values:
                continue
            times = array("q", [round(stamp * 1_000_000) for stamp, _ in values])
            usages = array("d", [float(text) for _, text in values])
            low, high = min(usages), max(usages)
            if not (low >= 0 and high <= 100):  # NaN, or out of range: one by one
                times, usages, corrected = _corrected(times, usages)
                clamped += corrected
            if times:
                readings = batch.series.setdefault((team, resource, dimension), SeriesReadings())
                readings.times.extend(times)
                readings.usages.extend(usages)
                batch.observations += len(times)
        return SourcePage(batch, bad, tuple(problems), clamped)

    async def _query_range(self, query: str, start: int, end: int, step: int) -> list[Any]:
        """Ask for a matrix; return its result (a list of {metric, values})."""
        params = {"query": query, "start": str(start), "end": str(end), "step": str(step)}
        url = self.base_url + "/api/v1/query_range"
        body = await self._get(url, params)
        try:
            document = json.loads(body)
            data = document["data"]
            if data.get("resultType") != "matrix":
                raise ValueError(f"resultType {data.get('resultType')!r}, not a matrix")
            result = data["result"]
            if not isinstance(result, list):
                raise ValueError("result is not a list")
            for series in result:
                if not isinstance(series, dict):
                    raise ValueError("a series is not an object")
                for pair in series.get("values") or ():
                    float(pair[0]), float(pair[1])
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            raise SourceError(
                f"not an answer of the Prometheus HTTP API ({exc})", url=self.base_url
            ) from None
        return result

    async def _get(self, url: str, params: dict[str, str]) -> bytes:
        attempt = 0
        failed: SourceUnavailable | None = None
        try:
            async with asyncio.timeout(self._deadline):
                while True:
                    attempt += 1
                    try:
                        return await self._get_once(url, params)
                    except SourceUnavailable as exc:
                        if attempt >= self._retry.attempts:
                            raise
                        failed = exc
                    await asyncio.sleep(self._retry.delay(attempt, self._rng))
        except TimeoutError:
            before = f" (try {attempt}; the one before: {failed})" if failed else ""
            raise SourceUnavailable(
                f"no complete answer within {self._deadline:g} s{before}", url=self.base_url
            ) from None

    async def _get_once(self, url: str, params: dict[str, str]) -> bytes:
        try:
            async with self._client.stream("GET", url, params=params) as response:
                body = await self._read(response)
        except httpx.TimeoutException as exc:
            raise SourceUnavailable(
                f"timed out ({exc.__class__.__name__})", url=self.base_url
            ) from exc
        except httpx.HTTPError as exc:
            raise SourceUnavailable(
                f"unreachable ({exc.__class__.__name__}: {exc})", url=self.base_url
            ) from exc
        status = response.status_code
        if status >= 500 or status == 429:
            raise SourceUnavailable(f"answered HTTP {status}{_said(body)}", url=self.base_url)
        if status >= 400:  # a bad query or a refusal: asking again brings the same
            raise SourceError(f"answered HTTP {status}{_said(body)}", url=self.base_url)
        return body

    async def _read(self, response: httpx.Response) -> bytes:
        """Read the body as it streams in, refusing it once it passes the size limit."""
        limit = self._max_bytes
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise SourceError(
                    f"answer exceeds the limit of {limit} bytes (USAGELENS_SOURCE_MAX_BYTES); "
                    "cut off: lower the step or narrow the queries",
                    url=self.base_url,
                )
            chunks.append(chunk)
        return b"".join(chunks)


def _corrected(times: array[int], usages: array[float]) -> tuple[array[int], array[float], int]:
    """Drop NaN and infinite readings (no data: never a zero) and clamp the rest into
    0..100; return the readings kept and how many were clamped."""
    kept_times, kept_usages = array("q"), array("d")
    clamped = 0
    for micros, usage in zip(times, usages, strict=True):
        if not math.isfinite(usage):
            continue
        if usage < 0 or usage > 100:
            usage = min(100.0, max(0.0, usage))
            clamped += 1
        kept_times.append(micros)
        kept_usages.append(usage + 0.0)
    return kept_times, kept_usages, clamped


def _said(body: bytes) -> str:
    """Return Prometheus's own words from an error answer (errorType: error), if any."""
    try:
        document = json.loads(body)
        return f": {document['errorType']}: {document['error']}"
    except (ValueError, KeyError, TypeError):
        text = body[:200].decode("utf-8", "replace").strip()
        return f": {text}" if text else ""


def _refusal(value: object, label: str) -> str | None:
    """Say why a label's value cannot name a team or resource (None: it can)."""
    if value is None or value == "":
        return f"no {label} label"
    if not isinstance(value, str):
        return f"{label} is not text"
    problem = name_problem(value)
    if problem is not None:
        return f"{label} {problem}"
    if _DELIMITERS.intersection(value):
        return f"{label} {value!r} holds a delimiter of the summary format ($ | ; , ( ))"
    return None


def _labels(labels: Mapping[str, object]) -> str:
    shown = ", ".join(f"{k}={v!r}" for k, v in sorted(labels.items())[:6])
    return "{" + shown + "}"


__all__ = [
    "DEFAULT_QUERIES",
    "PromQLMapping",
    "PromQLSource",
    "mapping_from_document",
]
