"""``usagelens load``: fire N HTTP requests with at most C in flight, and measure them."""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx


@dataclass(frozen=True, slots=True)
class Request:
    """What every request of a load run sends."""

    url: str
    method: str = "GET"
    headers: Sequence[tuple[str, str]] = ()
    form: Sequence[tuple[str, str]] = ()
    json_body: object = None
    content: bytes | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """One request's outcome: its status (None on a network error), latency and body."""

    index: int
    status: int | None
    seconds: float
    body: bytes
    error: str | None = None


@dataclass(slots=True)
class LoadSummary:
    """Everything measured over a load run."""

    answers: list[Answer] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def statuses(self) -> Counter[str]:
        """Count answers by status (``error`` for network failures)."""
        return Counter("error" if a.status is None else str(a.status) for a in self.answers)

    @property
    def throughput(self) -> float:
        """Requests per second over the whole run."""
        return len(self.answers) / self.elapsed if self.elapsed else 0.0

    def latency(self, quantile: float) -> float:
        """Latency (seconds) at a quantile, nearest rank; 1.0 is the maximum."""
        return percentile([a.seconds for a in self.answers], quantile)


def percentile(values: Sequence[float], quantile: float) -> float:
    """Return the nearest-rank percentile of values (0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(quantile * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


async def run_load(
    request: Request,
    *,
    count: int,
    concurrency: int,
    timeout: float = 30.0,
    on_answer: Callable[[Answer], None] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> LoadSummary:
    """Send ``count`` copies of a request, at most ``concurrency`` at once."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    summary = LoadSummary()
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=timeout, limits=limits, transport=transport) as client:

        async def one(index: int) -> None:
            async with gate:
                start = time.perf_counter()
                try:
                    response = await client.request(
                        request.method,
                        request.url,
                        headers=list(request.headers),
                        data=dict(request.form) or None,
                        json=request.json_body,
                        content=request.content,
                    )
                    answer = Answer(
                        index, response.status_code, time.perf_counter() - start, response.content
                    )
                except httpx.HTTPError as exc:
                    answer = Answer(
                        index,
                        None,
                        time.perf_counter() - start,
                        b"",
                        f"{type(exc).__name__}: {exc}",
                    )
            summary.answers.append(answer)
            if on_answer is not None:
                on_answer(answer)

        began = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        summary.elapsed = time.perf_counter() - began
    return summary


def parse_header(text: str) -> tuple[str, str]:
    """Split ``'Name: value'`` into its parts."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise ValueError(f"header {text!r} is not 'Name: value'")
    return name.strip(), value.strip()


def parse_form(text: str) -> list[tuple[str, str]]:
    """Split ``'k=v'``, or several comma-separated (``'name=Alexey, job=developer'``).

    A comma splits only when every part is itself ``key=value``, so ``'note=a,b'`` is one field.
    """
    parts = [part.strip() for part in text.split(",")]
    if len(parts) == 1 or not all("=" in part for part in parts):
        parts = [text.strip()]
    fields = []
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"form field {part!r} is not 'key=value'")
        fields.append((key.strip(), value.strip()))
    return fields
