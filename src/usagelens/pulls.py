"""Pulling from monitoring sources and tables into a target, concurrently (refresh, collect)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from usagelens.documents import load_price_list
from usagelens.domain.errors import SummaryFormatError, UsageLensError
from usagelens.domain.model import IngestResult
from usagelens.domain.prices import OriginPrices
from usagelens.ports import (
    BAD_ROWS_NAMED,
    PullTarget,
    RangeSource,
    SourcePage,
    TableSource,
    UsageSource,
)


@dataclass(frozen=True, slots=True)
class PullOutcome:
    """What one pull of a refresh did: usage of one branch, or a source's prices."""

    source: str
    kind: str
    """``usage`` or ``prices``."""
    branch: int | None
    ok: bool
    detail: str
    result: IngestResult | None = None


async def pull_into(
    target: PullTarget,
    sources: Sequence[UsageSource],
    branches: Sequence[int],
    *,
    tables: Sequence[TableSource] = (),
    range_sources: Sequence[RangeSource] = (),
    concurrency: int | None = None,
    progress: Callable[[PullOutcome], None] | None = None,
) -> list[PullOutcome]:
    """Pull every branch and the prices of every source, every table and every PromQL
    server (``range_sources``), concurrently.

    At most ``concurrency`` pulls are in flight (None: all at once). Each branch's
    summary is its own batch: one that fails is reported and the rest still land.
    Each source that answered replaces its own price list, and only its own (one that
    did not answer keeps what it sent last), all in one write; which list wins a price
    is decided when prices are read (``domain.prices.precedence``). Tables and PromQL
    servers are read page by page from where the last read stopped (a table less its
    lookback, a PromQL server from its last step); a bad row or series is skipped and
    named, not a reason to fail the pull. ``progress`` sees each outcome as it happens.
    """
    jobs = len(sources) * (len(branches) + 1) + len(tables) + len(range_sources)
    gate = asyncio.Semaphore(concurrency or jobs or 1)

    def report(outcome: PullOutcome) -> PullOutcome:
        if progress is not None:
            progress(outcome)
        return outcome

    async def usage(source: UsageSource, branch: int) -> PullOutcome:
        async with gate:
            try:
                payload = await source.fetch_summary(branch)
                result = await asyncio.to_thread(
                    target.ingest_summary, payload, source=f"{source.name} branch {branch}"
                )
            except UsageLensError as exc:
                return report(PullOutcome(source.name, "usage", branch, False, _describe(exc)))
        return report(PullOutcome(source.name, "usage", branch, True, _counts(result), result))

    async def table(source: TableSource) -> PullOutcome:
        async with gate:
            pages = lambda position: _threaded(source.pages(position))  # noqa: E731
            return report(await _read_positioned(target, source.name, pages, "bad row"))

    async def ranges(source: RangeSource) -> PullOutcome:
        async with gate:
            return report(await _read_positioned(target, source.name, source.pages, "series"))

    async def prices(source: UsageSource) -> OriginPrices | str:
        async with gate:
            try:
                payload = await source.fetch_prices()
            except UsageLensError as exc:
                return _describe(exc)
            fetched_at = datetime.now(UTC)
            try:
                price_list = await asyncio.to_thread(load_price_list, payload)
            except UsageLensError as exc:
                return f"refused, not a price list: {exc}"
            return OriginPrices(source.name, price_list, fetched_at)

    usage_pulls = asyncio.gather(
        *(usage(s, b) for s in sources for b in branches),
        *(table(t) for t in tables),
        *(ranges(r) for r in range_sources),
    )
    price_pulls = asyncio.gather(*(prices(s) for s in sources))
    usage_outcomes, price_results = await asyncio.gather(usage_pulls, price_pulls)
    outcomes = list(usage_outcomes)
    lists = list(zip(sources, price_results, strict=True))
    fetched = [result for _, result in lists if isinstance(result, OriginPrices)]
    stale: set[str] = set()
    if fetched:
        try:
            stored = await asyncio.to_thread(target.store_source_prices, fetched)
            stale = {entry.origin for entry in fetched} - set(stored)
        except UsageLensError as exc:
            lists = [(s, r if isinstance(r, str) else f"storing prices: {exc}") for s, r in lists]
    for source, result in lists:
        if isinstance(result, str):
            outcomes.append(report(PullOutcome(source.name, "prices", None, False, result)))
            continue
        detail = f"{len(result.prices.values)} resources priced"
        if result.origin in stale:
            detail += "; not stored: a newer list of this source was stored meanwhile"
        outcomes.append(report(PullOutcome(source.name, "prices", None, True, detail)))
    return outcomes


async def _read_positioned(
    target: PullTarget,
    name: str,
    pages: Callable[[datetime | None], AsyncIterator[SourcePage]],
    unit: str,
) -> PullOutcome:
    """Read a positioned source from its stored position page by page, each page a batch.

    The position moves as each page says once the page is stored, so a read cut short
    resumes there. Bad rows or series are skipped, counted and the first few named;
    values brought into 0..100 are counted. ``unit`` names what is skipped (a bad row of
    a table, a series of a PromQL answer).
    """
    results: list[IngestResult] = []
    teams: set[str] = set()
    resources: set[tuple[str, str]] = set()
    bad = clamped = 0
    problems: list[str] = []
    try:
        position = await asyncio.to_thread(target.source_position, name)
        async for page in pages(position):
            bad += page.bad
            clamped += page.clamped
            problems += page.problems[: BAD_ROWS_NAMED - len(problems)]
            if page.batch.series:
                results.append(
                    await asyncio.to_thread(
                        target.ingest_batch, page.batch, source=name, clamped=page.clamped
                    )
                )
                teams.update(team for team, _, _ in page.batch.series)
                resources.update((team, resource) for team, resource, _ in page.batch.series)
            if page.position is not None:
                await asyncio.to_thread(target.set_source_position, name, page.position)
    except UsageLensError as exc:
        detail = _describe(exc)
        if results:
            detail += f" (after {sum(r.observations for r in results)} observations landed)"
        return PullOutcome(
            name, "usage", None, False, detail + _notes(bad, problems, clamped, unit)
        )
    if not results:
        return PullOutcome(
            name, "usage", None, True, "no new rows" + _notes(bad, problems, clamped, unit)
        )
    total = IngestResult(
        batch_id=results[-1].batch_id,
        observations=sum(r.observations for r in results),
        inserted=sum(r.inserted for r in results),
        updated=sum(r.updated for r in results),
        duplicates=sum(r.duplicates for r in results),
        teams=len(teams),
        resources=len(resources),
    )
    detail = _counts(total) + _notes(bad, problems, clamped, unit)
    return PullOutcome(name, "usage", None, True, detail, total)


async def _threaded(pages: Iterator[SourcePage]) -> AsyncIterator[SourcePage]:
    """Read a blocking source's pages (a table's) off the event loop, one at a time."""
    done = object()
    while (page := await asyncio.to_thread(next, pages, done)) is not done:
        assert isinstance(page, SourcePage)
        yield page


def _notes(bad: int, problems: list[str], clamped: int, unit: str) -> str:
    plural = "s" if clamped != 1 else ""
    note = f"; {clamped} value{plural} outside 0..100 clamped to it" if clamped else ""
    return note + _bad_rows(bad, problems, unit)


def _bad_rows(bad: int, problems: list[str], unit: str) -> str:
    if not bad:
        return ""
    more = "; …" if bad > len(problems) else ""
    plural = "s" if bad != 1 and not unit.endswith("s") else ""
    return f"; {bad} {unit}{plural} skipped: " + "; ".join(problems) + more


def _counts(result: IngestResult) -> str:
    return (
        f"{result.observations} observations: {result.inserted} inserted, "
        f"{result.updated} updated, {result.duplicates} duplicates"
    )


def outcome_dict(outcome: PullOutcome) -> dict[str, object]:
    return {
        "source": outcome.source,
        "kind": outcome.kind,
        "branch": outcome.branch,
        "ok": outcome.ok,
        "detail": outcome.detail,
    }


def _describe(exc: UsageLensError) -> str:
    url = getattr(exc, "url", None)
    if url:
        return f"{url}: {exc}"
    if isinstance(exc, SummaryFormatError):
        return f"refused, not a usage summary: {exc}"
    return str(exc)
