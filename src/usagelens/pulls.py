"""Pulling from monitoring sources and tables into a target, concurrently (refresh, collect)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from usagelens.documents import load_price_list
from usagelens.domain.errors import InvalidInput, SummaryFormatError, UsageLensError
from usagelens.domain.model import IngestResult, Observation
from usagelens.domain.prices import PriceList, merge_price_lists
from usagelens.ports import PullTarget, TableSource, UsageSource

if TYPE_CHECKING:
    from usagelens.services import PayloadReader

BAD_ROWS_NAMED = 5
"""Bad rows of a table named in its outcome (all are counted)."""


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


@dataclass(frozen=True, slots=True)
class TablePage:
    """One page of a table read: its valid rows, and the rows refused one by one."""

    observations: list[Observation]
    bad: int = 0
    """Rows refused (skipped)."""
    problems: tuple[str, ...] = ()
    """What was wrong with the first few of them."""


@runtime_checkable
class PagedTableSource(TableSource, Protocol):
    """A table source read in pages of bounded size, validated row by row."""

    def pages(self, position: datetime | None) -> Iterator[TablePage]:
        """Yield the rows from a position (with the source's lookback), page by page."""
        ...


@runtime_checkable
class _ParsingTarget(Protocol):
    """A target that parses payloads itself (the local service), counting refusals."""

    def reader(self, json_form: bool | None = None) -> PayloadReader: ...

    def ingest_read(self, reader: PayloadReader, *, source: str) -> IngestResult: ...

    def count_rejected(self, name: str) -> None: ...


async def pull_into(
    target: PullTarget,
    sources: Sequence[UsageSource],
    branches: Sequence[int],
    *,
    tables: Sequence[TableSource] = (),
    concurrency: int | None = None,
    progress: Callable[[PullOutcome], None] | None = None,
) -> list[PullOutcome]:
    """Pull every branch and the prices of every source, and every table, concurrently.

    At most ``concurrency`` pulls are in flight (None: all at once). Each branch's
    summary is its own batch: one that fails is reported and the rest still land.
    Price lists are merged in source order (the later source wins) and replace the
    stored list if at least one source answered. Tables are read page by page from
    where the last read stopped (less the source's lookback); a bad row is skipped and
    named, not a reason to fail the table. ``progress`` sees each outcome as it happens.
    """
    jobs = len(sources) * (len(branches) + 1) + len(tables)
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
                    _ingest_summary, target, payload, source=f"{source.name} branch {branch}"
                )
            except UsageLensError as exc:
                return report(PullOutcome(source.name, "usage", branch, False, _describe(exc)))
        return report(PullOutcome(source.name, "usage", branch, True, _counts(result), result))

    async def table(source: TableSource) -> PullOutcome:
        async with gate:
            return report(await asyncio.to_thread(_read_table, target, source))

    async def prices(source: UsageSource) -> PriceList | str:
        async with gate:
            try:
                payload = await source.fetch_prices()
            except UsageLensError as exc:
                return _describe(exc)
            try:
                return await asyncio.to_thread(load_price_list, payload)
            except UsageLensError as exc:
                return f"refused, not a price list: {exc}"

    usage_pulls = asyncio.gather(
        *(usage(s, b) for s in sources for b in branches), *(table(t) for t in tables)
    )
    price_pulls = asyncio.gather(*(prices(s) for s in sources))
    usage_outcomes, price_results = await asyncio.gather(usage_pulls, price_pulls)
    outcomes = list(usage_outcomes)
    lists = list(zip(sources, price_results, strict=True))
    fetched = [r for _, r in lists if isinstance(r, PriceList)]
    if fetched:
        try:
            await asyncio.to_thread(target.store_prices, merge_price_lists(fetched))
        except UsageLensError as exc:
            lists = [(s, r if isinstance(r, str) else f"storing prices: {exc}") for s, r in lists]
    for source, result in lists:
        if isinstance(result, PriceList):
            detail = f"{len(result.values)} resources priced"
            outcomes.append(report(PullOutcome(source.name, "prices", None, True, detail)))
        else:
            outcomes.append(report(PullOutcome(source.name, "prices", None, False, result)))
    return outcomes


def _ingest_summary(target: PullTarget, payload: bytes, *, source: str) -> IngestResult:
    """Store a pulled summary; a refused one is counted as at POST /api/v1/usage.

    A server reached over HTTP counts what it refuses itself. The local service counts
    a payload refused by ``ingest_read`` but not one whose bytes the reader refuses as it
    takes them (not UTF-8), so that refusal is counted here, as the usage route does.
    """
    if not isinstance(target, _ParsingTarget):
        return target.ingest_summary(payload, source=source)
    reader = target.reader(json_form=False)
    try:
        reader.feed(payload)
    except InvalidInput:
        target.count_rejected("batches_rejected")
        raise
    return target.ingest_read(reader, source=source)


def _read_table(target: PullTarget, source: TableSource) -> PullOutcome:
    """Read a table from its stored position page by page, storing each page as a batch.

    The position moves to the newest row stored after each page, so a read cut short
    resumes there. Bad rows are skipped, counted and the first few named.
    """
    name = source.name
    results: list[IngestResult] = []
    teams: set[str] = set()
    resources: set[tuple[str, str]] = set()
    bad, problems = 0, list[str]()
    try:
        position = target.source_position(name)
        if isinstance(source, PagedTableSource):
            pages: Iterator[TablePage] = source.pages(position)
        else:
            pages = iter([TablePage(source.fetch_since(position))])
        for page in pages:
            bad += page.bad
            problems += page.problems[: BAD_ROWS_NAMED - len(problems)]
            if not page.observations:
                continue
            results.append(target.ingest_observations(page.observations, source=name))
            teams.update(obs.team for obs in page.observations)
            resources.update((obs.team, obs.resource) for obs in page.observations)
            target.set_source_position(name, max(obs.collected_at for obs in page.observations))
    except UsageLensError as exc:
        detail = _describe(exc)
        if results:
            detail += f" (after {sum(r.observations for r in results)} observations landed)"
        return PullOutcome(name, "usage", None, False, detail + _bad_rows(bad, problems))
    if not results:
        return PullOutcome(name, "usage", None, True, "no new rows" + _bad_rows(bad, problems))
    total = IngestResult(
        batch_id=results[-1].batch_id,
        observations=sum(r.observations for r in results),
        inserted=sum(r.inserted for r in results),
        updated=sum(r.updated for r in results),
        duplicates=sum(r.duplicates for r in results),
        teams=len(teams),
        resources=len(resources),
    )
    return PullOutcome(name, "usage", None, True, _counts(total) + _bad_rows(bad, problems), total)


def _bad_rows(bad: int, problems: list[str]) -> str:
    if not bad:
        return ""
    more = "; …" if bad > len(problems) else ""
    return f"; {bad} bad row{'s' if bad != 1 else ''} skipped: " + "; ".join(problems) + more


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
