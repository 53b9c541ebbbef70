"""Retries of the HTTP source: backoff with jitter on network errors and 5xx, never on 4xx."""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest

from usagelens.domain.errors import SourceNotFound, SourceUnavailable
from usagelens.sources.http import HttpMonitoringSource, RetryPolicy


def _source(handler, attempts: int = 4):  # type: ignore[no-untyped-def]
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    source = HttpMonitoringSource(
        "http://source", client, retry=RetryPolicy(attempts=attempts, base_delay=0.5, max_delay=1.5),
        sleep=sleep, rng=random.Random(1),
    )  # fmt: skip
    return source, delays, client


def test_5xx_then_success_is_retried_with_growing_capped_backoff() -> None:
    answers = iter([503, 502, 500, 200])
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(next(answers), text="t|(r,CPU,2026-11-19 10:00:00,5)")

    source, delays, client = _source(handler)
    assert asyncio.run(source.fetch_summary(3)) == b"t|(r,CPU,2026-11-19 10:00:00,5)"
    assert calls == ["/monitoring/infrastructure/using/summary/3"] * 4
    assert len(delays) == 3
    assert 0 <= delays[0] <= 0.5 and 0 <= delays[1] <= 1.0 and 0 <= delays[2] <= 1.5
    asyncio.run(client.aclose())


def test_connection_errors_are_retried_then_reported() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    source, delays, client = _source(handler, attempts=3)
    with pytest.raises(SourceUnavailable, match="after 3 tries"):
        asyncio.run(source.fetch_prices())
    assert len(delays) == 2
    asyncio.run(client.aclose())


@pytest.mark.parametrize("status", [400, 403, 404])
def test_4xx_is_not_retried(status: int) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(status)

    source, delays, client = _source(handler)
    with pytest.raises(SourceNotFound):
        asyncio.run(source.fetch_summary(1))
    assert calls == [1] and delays == []
    asyncio.run(client.aclose())
