"""Assemble the use-case handlers from settings (used by the API and the CLI)."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import Engine

from usagelens.app import Handlers, Refresh, build
from usagelens.config import Settings
from usagelens.domain.focus import FocusAccount
from usagelens.domain.recommendations import Lifecycle
from usagelens.pulls import PullOutcome
from usagelens.sources import HttpMonitoringSource, PostgresTableSource, RetryPolicy
from usagelens.sources.http import DEFAULT_MAX_BYTES
from usagelens.sources.promql import PromQLMapping, PromQLSource
from usagelens.sources.urls import is_promql_source, is_table_source
from usagelens.storage import SqlStore


def handlers_for(settings: Settings, engine: Engine) -> Handlers:
    """Wire the use-case handlers for these settings on an engine."""
    return build(
        SqlStore(engine),
        policy=settings.load_policy(),
        currency=settings.currency,
        latency_bounds=settings.push_buckets,
        max_endpoints=settings.push_max_endpoints,
        window=settings.window,
        source_order=settings.sources,
        lifecycle=Lifecycle(settings.success_after, settings.fail_after),
        focus=FocusAccount(settings.focus_provider, settings.focus_account),
        contacts=settings.team_contacts(),
    )


def holder_name(kind: str) -> str:
    """Name this process as a refresh lease holder (what, host, pid)."""
    return f"{kind} {socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class OpenSources:
    """The sources URLs name, opened: course HTTP sources, tables and PromQL servers."""

    http: list[HttpMonitoringSource]
    tables: list[PostgresTableSource]
    ranges: list[PromQLSource]


@asynccontextmanager
async def open_sources(
    urls: Sequence[str],
    *,
    timeout: float,
    retries: int = 1,
    max_bytes: int = DEFAULT_MAX_BYTES,
    promql: PromQLMapping | None = None,
) -> AsyncIterator[OpenSources]:
    """Open the sources that URLs name (one shared HTTP client for those over HTTP).

    ``timeout`` bounds each pull in all (tries included); ``max_bytes`` each answer;
    ``promql`` maps a PromQL server's series to usage (None: the node_exporter defaults).
    """
    retry = RetryPolicy(attempts=retries)
    async with httpx.AsyncClient(timeout=timeout) as client:
        limits: dict[str, Any] = {"retry": retry, "deadline": timeout, "max_bytes": max_bytes}
        opened = OpenSources(
            http=[
                HttpMonitoringSource(u, client, **limits)
                for u in urls
                if not is_table_source(u) and not is_promql_source(u)
            ],
            tables=[PostgresTableSource(u, timeout=timeout) for u in urls if is_table_source(u)],
            ranges=[PromQLSource(u, client, promql, **limits) for u in urls if is_promql_source(u)],
        )
        try:
            yield opened
        finally:
            for table in opened.tables:
                table.close()


async def refresh_configured(
    refresh: Refresh, settings: Settings, *, holder: str, min_interval: float | None = None
) -> list[PullOutcome] | None:
    """Refresh from the configured sources under the store's lease (None: not taken)."""
    async with open_sources(
        settings.sources,
        timeout=settings.source_timeout,
        retries=settings.source_retries,
        max_bytes=settings.source_max_bytes,
        promql=settings.load_promql() if any(map(is_promql_source, settings.sources)) else None,
    ) as sources:
        return await refresh.run_exclusive(
            sources.http,
            settings.branches,
            tables=sources.tables,
            range_sources=sources.ranges,
            holder=holder,
            min_interval=min_interval,
        )
