"""Retries of the HTTP source: backoff with jitter on network errors and 5xx, never on 4xx,
never on an answer past the size limit or one that cannot be decoded; a deadline over all.

The real servers that prove the limits are in tests/integration/test_hostile_sources.py.
"""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest

from usagelens.domain.errors import SourceError, SourceNotFound, SourceUnavailable
from usagelens.sources.http import HttpMonitoringSource, RetryPolicy


def _source(handler, attempts: int = 4, **limits: float):  # type: ignore[no-untyped-def]
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    source = HttpMonitoringSource(
        "http://source", client, retry=RetryPolicy(attempts=attempts, base_delay=0.5, max_delay=1.5),
        sleep=sleep, rng=random.Random(1), **limits,  # type: ignore[arg-type]
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


def _counting(calls: list[int], response: httpx.Response):  # type: ignore[no-untyped-def]
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return response

    return handler


def test_a_declared_length_past_the_limit_is_refused_unread_and_not_retried() -> None:
    calls: list[int] = []
    huge = httpx.Response(200, headers={"Content-Length": str(10 * 2**30)}, content=b"")
    source, delays, client = _source(_counting(calls, huge), max_bytes=1000)
    with pytest.raises(SourceError, match=r"10737418240 bytes .*exceeds the limit of 1000") as info:
        asyncio.run(source.fetch_summary(1))
    assert not isinstance(info.value, SourceUnavailable)
    assert calls == [1] and delays == []
    asyncio.run(client.aclose())


def test_a_streamed_answer_past_the_limit_is_cut_off_and_not_retried() -> None:
    calls: list[int] = []
    sent: list[int] = []

    async def endless():  # type: ignore[no-untyped-def]
        while True:
            sent.append(1)
            yield b"t|(r,CPU,2026-11-19 10:00:00,5);" * 32

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(200, content=endless())

    source, delays, client = _source(handler, max_bytes=100_000)
    with pytest.raises(SourceError, match=r"exceeds the limit of 100000 bytes.*cut off"):
        asyncio.run(source.fetch_summary(1))
    assert calls == [1] and delays == []
    assert len(sent) * 32 * 32 < 110_000  # read no further than the limit
    asyncio.run(client.aclose())


def test_an_answer_exactly_at_the_limit_is_taken() -> None:
    body = b"x" * 1000
    source, _, client = _source(lambda request: httpx.Response(200, content=body), max_bytes=1000)
    assert asyncio.run(source.fetch_summary(1)) == body
    asyncio.run(client.aclose())


def test_an_answer_that_cannot_be_decoded_is_not_retried() -> None:
    calls: list[int] = []
    gzip = {"Content-Encoding": "gzip"}
    broken = httpx.Response(200, headers=gzip, stream=httpx.ByteStream(b"not gzip"))
    source, delays, client = _source(_counting(calls, broken))
    with pytest.raises(SourceError, match="cannot be decoded"):
        asyncio.run(source.fetch_summary(1))
    assert calls == [1] and delays == []
    asyncio.run(client.aclose())


def test_the_deadline_covers_the_whole_pull_however_the_bytes_trickle() -> None:
    async def trickle():  # type: ignore[no-untyped-def]
        for _ in range(1000):
            await asyncio.sleep(0.02)
            yield b"t"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=trickle())

    source, delays, client = _source(handler, deadline=0.3)

    async def pull() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(SourceUnavailable, match=r"no complete answer within 0\.3 s"):
            await source.fetch_summary(1)
        return loop.time() - started

    assert asyncio.run(pull()) < 1.0
    assert delays == []
    asyncio.run(client.aclose())


def test_the_deadline_includes_the_tries_and_backoff() -> None:
    calls: list[int] = []

    async def slow_503(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        await asyncio.sleep(0.1)
        return httpx.Response(503)

    client = httpx.AsyncClient(transport=httpx.MockTransport(slow_503))
    source = HttpMonitoringSource(
        "http://source", client, retry=RetryPolicy(attempts=10, base_delay=0.01), deadline=0.5
    )
    with pytest.raises(
        SourceUnavailable, match=r"within 0\.5 s \(try \d+; the one before: answered HTTP 503\)"
    ):
        asyncio.run(source.fetch_prices())
    assert 2 <= len(calls) < 10  # cut short by the deadline, not by running out of tries
    asyncio.run(client.aclose())
