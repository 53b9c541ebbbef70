"""The load generator's bookkeeping, over an in-memory httpx transport."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from usagelens.loadgen import Request, parse_form, percentile, run_load


def test_percentiles_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.9) == 90
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert percentile([], 0.5) == 0


def test_form_parsing() -> None:
    assert parse_form("name=Alexey, job=developer, experience=9") == [
        ("name", "Alexey"), ("job", "developer"), ("experience", "9"),
    ]  # fmt: skip
    assert parse_form("note=a,b") == [("note", "a,b")]
    with pytest.raises(ValueError, match="key=value"):
        parse_form("novalue")


def test_run_load_counts_statuses_and_errors() -> None:
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/boom":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200 if len(seen) % 2 else 500, json={"n": len(seen)})

    summary = asyncio.run(
        run_load(Request("http://test/ok", "POST", form=[("a", "1")]), count=10, concurrency=3,
                 transport=httpx.MockTransport(handler))
    )  # fmt: skip
    assert len(summary.answers) == 10
    assert summary.statuses == {"200": 5, "500": 5}
    assert seen[0].headers["content-type"] == "application/x-www-form-urlencoded"
    failed = asyncio.run(
        run_load(
            Request("http://test/boom"),
            count=2,
            concurrency=2,
            transport=httpx.MockTransport(handler),
        )
    )
    assert failed.statuses == {"error": 2} and "ConnectError" in (failed.answers[0].error or "")
