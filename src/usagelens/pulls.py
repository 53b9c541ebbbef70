"""Pulling from monitoring sources and tables into a target, concurrently (refresh, collect)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from usagelens.documents import load_price_list
from usagelens.domain.errors import UsageLensError
from usagelens.domain.model import IngestResult
from usagelens.domain.prices import PriceList, merge_price_lists
from usagelens.ports import PullTarget, TableSource, UsageSource


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
    concurrency: int | None = None,
    progress: Callable[[PullOutcome], None] | None = None,
) -> list[PullOutcome]:
    """Pull every branch and the prices of every source, and every table, concurrently.

    At most ``concurrency`` pulls are in flight (None: all at once). Each branch's
    summary is its own batch: one that fails is reported and the rest still land.
    Price lists are merged in source order (the later source wins) and replace the
    stored list if at least one source answered. Tables are read from where the last
    read stopped. ``progress`` sees each outcome as it happens.
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
                    target.ingest_summary, payload, source=f"{source.name} branch {branch}"
                )
            except UsageLensError as exc:
                return report(PullOutcome(source.name, "usage", branch, False, _describe(exc)))
        return report(PullOutcome(source.name, "usage", branch, True, _counts(result), result))

    async def table(source: TableSource) -> PullOutcome:
        async with gate:
            try:
                position = await asyncio.to_thread(target.source_position, source.name)
                batch = await asyncio.to_thread(source.fetch_since, position)
                if not batch:
                    return report(PullOutcome(source.name, "usage", None, True, "no new rows"))
                result = await asyncio.to_thread(
                    target.ingest_observations, batch, source=source.name
                )
                newest = max(obs.collected_at for obs in batch)
                await asyncio.to_thread(target.set_source_position, source.name, newest)
            except UsageLensError as exc:
                return report(PullOutcome(source.name, "usage", None, False, _describe(exc)))
        return report(PullOutcome(source.name, "usage", None, True, _counts(result), result))

    async def prices(source: UsageSource) -> PriceList | str:
        async with gate:
            try:
                return load_price_list(await source.fetch_prices())
            except UsageLensError as exc:
                return _describe(exc)

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
    return f"{url}: {exc}" if url else str(exc)
