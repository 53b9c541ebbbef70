"""Data in and out: ingest files, collect from sources, set prices, export and import."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from usagelens.cli.common import (
    UrlOption,
    app,
    err,
    fail,
    open_client,
)
from usagelens.client import Client
from usagelens.config import (
    load_settings,
)
from usagelens.documents import dump_yaml
from usagelens.domain.errors import NotConfigured, UsageLensError
from usagelens.pulls import PullOutcome, pull_into
from usagelens.sources.urls import check_source_url, is_promql_source, is_table_source
from usagelens.wiring import open_sources


@app.command()
def collect(
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            metavar="SOURCE",
            help="source base URL, prometheus+http://… or postgresql://…?table=… (repeatable)",
        ),
    ] = None,
    branch: Annotated[
        list[int] | None, typer.Option("--branch", help="company branch (repeatable)", metavar="N")
    ] = None,
    concurrency: Annotated[
        int, typer.Option(min=1, help="pulls in flight at most", metavar="N")
    ] = 8,
    retries: Annotated[
        int | None,
        typer.Option(min=1, max=10, help="tries per pull (5xx, network errors)", metavar="N"),
    ] = None,
    timeout: Annotated[
        float | None, typer.Option(help="seconds per pull, in all", metavar="SECONDS")
    ] = None,
    url: UrlOption = None,
) -> None:
    """Pull from many monitoring sources concurrently into the local store (or --url).

    A source is a course-compatible HTTP source, a PostgreSQL table, or any server of
    the Prometheus HTTP API (prometheus+http://HOST:PORT, a /PREFIX optional, read with the
    USAGELENS_PROMQL_FILE mapping). Defaults: USAGELENS_SOURCES and USAGELENS_BRANCHES.

    Example: usagelens collect --source http://127.0.0.1:21122 --branch 1 --branch 2
    (or: usagelens collect --source prometheus+http://127.0.0.1:9090)
    """
    settings = load_settings()
    try:
        sources = [check_source_url(s, "--source") for s in source or []]
    except NotConfigured as exc:
        raise fail(str(exc), 2) from None
    sources = sources or settings.sources
    branches = branch or settings.branches
    if not sources:
        raise fail("no sources: pass --source URL or set USAGELENS_SOURCES", 2)
    progress = None
    task = None
    positioned = [s for s in sources if is_table_source(s) or is_promql_source(s)]
    total = (len(sources) - len(positioned)) * (len(branches) + 1) + len(positioned)
    promql = settings.load_promql() if any(map(is_promql_source, sources)) else None
    if err.is_terminal:
        from rich.progress import Progress

        progress = Progress(console=err, transient=False)
        task = progress.add_task("pulling", total=total)

    def on_outcome(outcome: PullOutcome) -> None:
        line = _outcome_line(outcome)
        if progress is not None and task is not None:
            progress.console.print(line, highlight=False)
            progress.advance(task)
        else:
            err.print(line, highlight=False, soft_wrap=True)

    async def run(target: Client) -> list[PullOutcome]:
        async with open_sources(
            sources,
            timeout=timeout or settings.source_timeout,
            retries=retries or settings.source_retries,
            max_bytes=settings.source_max_bytes,
            promql=promql,
        ) as opened:
            return await pull_into(
                target, opened.http, branches, tables=opened.tables,
                range_sources=opened.ranges, concurrency=concurrency, progress=on_outcome,
            )  # fmt: skip

    started = time.perf_counter()
    if progress:
        progress.start()
    try:
        with open_client(url, settings) as client:
            outcomes = asyncio.run(run(client))
    finally:
        if progress:
            progress.stop()
    failed = [o for o in outcomes if not o.ok]
    typer.echo(
        f"{len(outcomes) - len(failed)} of {len(outcomes)} pulls landed in "
        f"{time.perf_counter() - started:.2f} s" + (f"; {len(failed)} failed" if failed else "")
    )
    if failed:
        raise typer.Exit(1)


def _outcome_line(outcome: PullOutcome) -> str:
    mark = "[green]ok[/]    " if outcome.ok else "[red]failed[/]"
    if outcome.kind == "prices":
        what = "prices"
    elif outcome.branch is not None:
        what = f"branch {outcome.branch}"
    else:
        what = "steps" if is_promql_source(outcome.source) else "table"
    return f"{mark} {outcome.source} {what}: {outcome.detail}"


@app.command()
def ingest(
    files: Annotated[list[Path], typer.Argument(help="summaries (text format, or .json)")],
    url: UrlOption = None,
    source: Annotated[str | None, typer.Option(help="names the batch", metavar="SOURCE")] = None,
) -> None:
    """Ingest usage summaries into the local database, or into a server with --url.

    Each file is one batch, stored whole or not at all. On a terminal, large files show
    a progress bar.

    Example: usagelens ingest summary.txt --url http://127.0.0.1:8000
    """
    with open_client(url, load_settings()) as client:
        for path in files:
            json_form = path.suffix.lower() == ".json"
            label = source or f"file {path.name}"
            try:
                with _progress(path) as advance:
                    result = client.ingest_file(
                        path, source=label, json_form=json_form, advance=advance
                    )
            except OSError as exc:
                raise fail(f"cannot read {path}: {exc.strerror}") from None
            except UsageLensError as exc:
                raise fail(f"{path}: {exc}") from None
            typer.echo(
                f"{path}: {result.observations} observations — {result.inserted} inserted, "
                f"{result.updated} updated, {result.duplicates} duplicates "
                f"(batch {result.batch_id})"
            )


_PROGRESS_FROM = 8 << 20
"""Files from this size up show a progress bar (on a terminal)."""


@contextmanager
def _progress(path: Path) -> Iterator[Callable[[int], None]]:
    """Show a transient progress bar for a large file on a terminal; yield advance(bytes)."""
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    if size < _PROGRESS_FROM or not err.is_terminal:
        yield lambda _: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task(path.name, total=size)
        yield lambda n: progress.advance(task, n)


@app.command()
def prices(
    file: Annotated[Path | None, typer.Argument(help="price list to set (YAML or JSON)")] = None,
    origin: Annotated[
        str | None,
        typer.Option(
            help="print one origin's list: a source's URL, manual or legacy", metavar="ORIGIN"
        ),
    ] = None,
    drop: Annotated[
        str | None,
        typer.Option(help="forget one origin's list (e.g. a retired source's)", metavar="ORIGIN"),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="with --drop: say what the list holds; forget nothing")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="with --drop: do not ask on a terminal")
    ] = False,
    show: Annotated[
        bool, typer.Option("--show", help="with FILE or --drop: print the prices in force too")
    ] = False,
    url: UrlOption = None,
) -> None:
    """Set the hand-set price list from FILE (a one-line summary; --show prints the prices in
    force too), or print the prices in force without FILE.

    The hand-set list wins over every source's list and is never replaced by a refresh; each
    source's list is replaced only by that source's next answer. --drop ORIGIN forgets one
    list: on a terminal it says how many resources the list prices and asks first, unless
    --yes; --dry-run only says.

    Example: usagelens prices prices.yaml --url http://127.0.0.1:8000 (or: usagelens prices
    --drop http://old-mon:21122 --dry-run)
    """
    settings = load_settings()
    if dry_run and drop is None:
        raise fail("--dry-run goes with --drop ORIGIN", 2)
    check = drop is not None and (dry_run or (not yes and sys.stdin.isatty()))
    payload = None
    if file is not None:
        try:
            payload = file.read_bytes()
        except OSError as exc:
            raise fail(f"cannot read {file}: {exc.strerror}") from None
    with open_client(url, settings, dry_run=dry_run) as client:
        if check and drop is not None:
            sizes = dict(client.prices().lists)
            _before_drop(drop, sizes.get(drop), dry_run)
        try:
            if drop is not None:
                answer = client.drop_prices(drop)
            elif payload is None:
                answer = client.prices(origin)
            else:
                answer = client.replace_prices(payload)
        except UsageLensError as exc:
            raise fail(f"{file}: {exc}" if payload is not None else str(exc)) from None
    document = answer.prices.to_document()
    origins = answer.lists
    shown = ", ".join(f"{name} ({count} resources)" for name, count in origins) or "none"
    if payload is not None or drop is not None:
        done = (
            f"hand-set price list replaced from {file}"
            if payload is not None
            else f"forgot the price list of {drop}"
        )
        in_force = len(document["values"])
        typer.echo(f"{done}; prices in force for {in_force} resources, from {shown}")
        if not show:
            return
    else:
        err.print(f"lists, the one that wins first: {shown}", highlight=False, markup=False)
    typer.echo(dump_yaml(document), nl=False)


def _before_drop(origin: str, resources: int | None, dry_run: bool) -> None:
    """Say what forgetting a price list removes; end a dry run, or ask on a terminal."""
    if resources is None:
        raise fail(f"no price list of origin {origin!r} is stored")
    line = (
        f"the price list of {origin} prices {resources} resources; forgetting it merges the "
        "prices in force again from the other lists"
    )
    if dry_run:
        typer.echo(f"{line}\ndry run: nothing changed")
        raise typer.Exit()
    err.print(line, highlight=False, markup=False)
    if not typer.confirm("Forget it?", default=False, err=True):
        err.print("nothing changed")
        raise typer.Exit(1)


@app.command("export")
def export_command(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="write to a file (default: stdout)", metavar="FILE"),
    ] = None,
    url: UrlOption = None,
) -> None:
    """Write everything stored as one JSON document: observations (in the summary text
    format), prices, pushed counts and the policy. `usagelens import` restores it.

    Example: usagelens export -o backup.json
    """
    with open_client(url, load_settings()) as client:
        document = client.export()
    text = json.dumps(document, ensure_ascii=False) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    err.print(f"exported to {output}")


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="a document written by `usagelens export`")],
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="say what FILE holds and whether the store is empty; write nothing"
        ),
    ] = False,
    url: UrlOption = None,
) -> None:
    """Restore an export into an empty database: the same rows, money and metrics.

    A store that holds anything is refused. --dry-run reads FILE as an import would and
    says what it holds (observations, series, price lists, pushed events) and whether the
    store is empty; it writes nothing, and exits 1 where the import would fail.

    Example: USAGELENS_DATABASE_URL=sqlite:///new.db usagelens import backup.json --dry-run
    """
    try:
        document = json.loads(file.read_bytes())
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise fail(f"{file} is not JSON ({exc})") from None
    settings = load_settings()
    try:
        with open_client(url, settings, dry_run=dry_run) as client:
            where = client.where
            if dry_run:
                plan = client.import_plan(document)
            else:
                result = client.import_(document)
    except UsageLensError as exc:
        raise fail(f"{file}: {exc}") from None
    if not dry_run:
        err.print(f"imported {result.observations} observations from {file}")
        return
    lists = ", ".join(f"{o} ({n} resources)" for o, n in plan.price_lists.items()) or "none"
    typer.echo(
        f"{file} holds {plan.observations} observations of {plan.series} series, "
        f"{plan.pushes} pushed events and {len(plan.price_lists)} price lists: {lists}"
    )
    if not plan.store_empty:
        typer.echo("dry run: nothing written")
        raise fail(
            f"the store at {where} is not empty: import would refuse "
            "it (import only into a new database)"
        )
    typer.echo(f"the store at {where} is empty: import would take it")
    typer.echo("dry run: nothing written")
