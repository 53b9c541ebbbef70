"""The ``usagelens`` command line: thin calls into the use-case handlers."""

from __future__ import annotations

import asyncio
import atexit
import ipaddress
import json
import math
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import httpx
import typer
import uvicorn
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from sqlalchemy import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from usagelens import __version__, clihelp
from usagelens.app import Handlers, Ingest, PayloadReader, PruneResult, Refresh, StoreTarget
from usagelens.config import (
    MIN_RETENTION,
    Settings,
    describe_duration,
    load_settings,
    parse_duration,
)
from usagelens.documents import dump_yaml, load_document
from usagelens.domain import report as render
from usagelens.domain.errors import InvalidInput, NotConfigured, UsageLensError
from usagelens.domain.model import IngestResult, Window
from usagelens.domain.policy import Policy, policy_from_document
from usagelens.domain.summary import parse_timestamp
from usagelens.domain.times import parse_moment
from usagelens.loadgen import Answer, Request, parse_form, parse_header, run_load
from usagelens.logs import logging_config
from usagelens.ports import PullTarget
from usagelens.pulls import PullOutcome, pull_into
from usagelens.remote import RemoteTarget
from usagelens.sources.urls import check_source_url, is_table_source
from usagelens.storage import create_engine_for, migrate
from usagelens.storage.errors import DATABASE_ERRORS, classify
from usagelens.wiring import handlers_for, holder_name, open_sources, refresh_configured

app = typer.Typer(
    help="usagelens: what each team's infrastructure uses, what it costs, what to cut.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, soft_wrap=True)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"usagelens {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="print the version"),
    ] = False,
) -> None:
    """usagelens: what each team's infrastructure uses, what it costs, what to cut.

    Settings come from USAGELENS_* variables (and USAGELENS_CONFIG_FILE); see the README.
    """


Format = Literal["text", "markdown", "csv", "json", "html"]
UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="talk to a running server instead of the local database"),
]


def main(args: list[str] | None = None) -> None:
    """Run the command line: every error ends it with one line and exit code 1.

    Domain errors print their message; database errors are classified as the API
    classifies them (``storage.errors``); anything else is an internal error, shown as
    one line too (``USAGELENS_LOG_LEVEL=debug`` adds the traceback).
    """
    try:
        clihelp.tidy(typer.main.get_command(app))(args=args, prog_name="usagelens")
    except UsageLensError as exc:
        _exit_with(str(exc))
    except DATABASE_ERRORS as exc:
        _exit_with(str(classify(exc)))
    except Exception as exc:
        if os.environ.get("USAGELENS_LOG_LEVEL", "").lower() == "debug":
            err.print_exception()
        _exit_with(f"internal error ({type(exc).__name__}: {exc}); run again with "
                   "USAGELENS_LOG_LEVEL=debug to see where")  # fmt: skip
    finally:
        while _ENGINES:
            _ENGINES.pop().dispose()


_ENGINES: list[Engine] = []
"""Engines this run opened, closed when it ends (however it ends)."""


def _exit_with(message: str) -> NoReturn:
    first = message.strip().splitlines()[0] if message.strip() else "failed"
    err.print(f"[bold red]error:[/] {escape(first)}", highlight=False)
    raise SystemExit(1) from None


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


def _open_service(settings: Settings) -> Handlers:
    """Open the local store: migrate, check the policy, rebuild stale aggregates once."""
    service = handlers_for(settings, _migrated_engine(settings))
    rebuilt = service.maintenance.prepare()
    if rebuilt is not None:
        err.print(
            f"rebuilt the aggregates of {rebuilt.series} series "
            f"({rebuilt.observations} observations) after a schema upgrade"
        )
    return service


def _migrated_engine(settings: Settings) -> Engine:
    """Connect to USAGELENS_DATABASE_URL and migrate it; a bad URL ends in one line."""
    shown = _shown(settings.database_url)
    try:
        engine = create_engine_for(settings.database_url)
        _ENGINES.append(engine)
        migrate(engine)
    except (NoSuchModuleError, ArgumentError, NotConfigured):
        raise _fail(f"USAGELENS_DATABASE_URL={shown}: {_UNKNOWN_URL}") from None
    except DATABASE_ERRORS as exc:
        raise _fail(f"USAGELENS_DATABASE_URL={shown}: {_why(exc)}") from None
    return engine


def _shown(url: str) -> str:
    """A database URL with its password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


_UNKNOWN_URL = "not a database URL this service knows (sqlite:///path.db or postgresql://…)"


def _why(exc: Exception) -> str:
    """One line on why a database cannot be opened."""
    return f"cannot open the database ({str(classify(exc)).split(': ', 1)[-1]})"


@contextmanager
def _client(url: str, settings: Settings) -> Iterator[httpx.Client]:
    """Talk to a running server with the configured token; network errors end the command."""
    headers = {"X-Auth-Token": settings.token} if settings.token else {}
    try:
        with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=60) as client:
            yield client
    except httpx.HTTPError as exc:
        raise _fail(f"cannot reach {url}: {exc}") from None


def _checked(response: httpx.Response) -> httpx.Response:
    if response.is_success:
        return response
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    raise _fail(
        f"{response.request.method} {response.request.url} → {response.status_code}: {detail}"
    )


def _window(since: str | None, until: str | None) -> Window:
    """The window that --since and --until name (as the API reads them); exit 2 if bad."""
    start = _moment(since, "--since") if since else None
    end = _moment(until, "--until") if until else None
    if start is not None and end is not None and start >= end:
        raise _fail(
            f"--since ({start:%Y-%m-%d %H:%M:%S}) must be before --until ({end:%Y-%m-%d %H:%M:%S})",
            2,
        )
    return Window(start, end)


def _moment(text: str, option: str) -> datetime:
    """Read a time as the API does: a date, a date-time, or ISO 8601; UTC unless it says."""
    try:
        return parse_moment(text)
    except ValueError as exc:
        raise _fail(f"{option} {exc}", 2) from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="worker processes on one port")] = 1,
    refresh_every: Annotated[
        str | None,
        typer.Option(help="pull from USAGELENS_SOURCES periodically, e.g. 30s, 5m, 1h"),
    ] = None,
) -> None:
    """Serve the HTTP API, the dashboard and /metrics (migrating the database first).

    Reads USAGELENS_DATABASE_URL, USAGELENS_API_TOKEN, USAGELENS_SOURCES and the other
    USAGELENS_* settings (README). Example: USAGELENS_API_TOKEN=s3cret usagelens serve
    --host 0.0.0.0 --workers 2
    """
    if refresh_every is not None:
        try:
            parse_duration(refresh_every)
        except ValueError as exc:
            raise _fail(str(exc), 2) from None
        os.environ["USAGELENS_REFRESH_EVERY"] = refresh_every  # the workers read it
    settings = load_settings()
    if settings.refresh_every and not settings.sources:
        raise _fail("--refresh-every needs USAGELENS_SOURCES", 2)
    if settings.token is None and not _is_loopback(host):
        raise _fail(
            f"refusing to listen on {host} without USAGELENS_API_TOKEN: "
            "set a token, or listen on loopback (127.0.0.1)"
        )
    _open_service(settings).store.engine.dispose()  # type: ignore[attr-defined]
    metrics_dir = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Workers share their own request metrics through files (prometheus_client).
        metrics_dir = tempfile.mkdtemp(prefix="usagelens-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        _run_uvicorn(host, port, workers, settings)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _run_uvicorn(host: str, port: int, workers: int, settings: Settings) -> None:
    # uvicorn handles SIGTERM (a graceful stop), then raises it again once stopped; let
    # that end the process with status 0, as a stop that went to plan.
    signal.signal(signal.SIGTERM, lambda *_: None)
    uvicorn.run(
        "usagelens.api:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=logging_config(settings.log_format, settings.log_level),
        access_log=False,  # the service writes its own, with the request id
        proxy_headers=False,
        timeout_graceful_shutdown=max(1, math.ceil(settings.shutdown_timeout)),
    )


@app.command()
def collect(
    source: Annotated[
        list[str] | None,
        typer.Option("--source", help="source base URL or postgresql://…?table=… (repeatable)"),
    ] = None,
    branch: Annotated[
        list[int] | None, typer.Option("--branch", help="company branch (repeatable)")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="pulls in flight at most")] = 8,
    retries: Annotated[
        int | None, typer.Option(min=1, max=10, help="tries per pull (5xx, network errors)")
    ] = None,
    timeout: Annotated[float | None, typer.Option(help="seconds per pull, in all")] = None,
    url: UrlOption = None,
) -> None:
    """Pull from many monitoring sources concurrently into the local store (or --url).

    Defaults: USAGELENS_SOURCES and USAGELENS_BRANCHES. Example: usagelens collect
    --source http://127.0.0.1:21122 --branch 1 --branch 2
    """
    settings = load_settings()
    try:
        sources = [check_source_url(s, "--source") for s in source or []]
    except NotConfigured as exc:
        raise _fail(str(exc), 2) from None
    sources = sources or settings.sources
    branches = branch or settings.branches
    if not sources:
        raise _fail("no sources: pass --source URL or set USAGELENS_SOURCES", 2)
    progress = None
    task = None
    total = sum(len(branches) + 1 for s in sources if not is_table_source(s))
    total += sum(1 for s in sources if is_table_source(s))
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

    async def run(target: PullTarget) -> list[PullOutcome]:
        async with open_sources(
            sources,
            timeout=timeout or settings.source_timeout,
            retries=retries or settings.source_retries,
            max_bytes=settings.source_max_bytes,
        ) as (http, tables):
            return await pull_into(
                target, http, branches, tables=tables, concurrency=concurrency, progress=on_outcome
            )

    started = time.perf_counter()
    if progress:
        progress.start()
    try:
        if url:
            with _client(url, settings) as client:
                outcomes = asyncio.run(run(RemoteTarget(client)))
        else:
            outcomes = asyncio.run(run(StoreTarget(_open_service(settings).refresh)))
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
        what = "table"
    return f"{mark} {outcome.source} {what}: {outcome.detail}"


@app.command()
def simulate(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 21122,
    branches: Annotated[int, typer.Option(min=1, help="company branches 1..N exist")] = 10,
    delay: Annotated[float, typer.Option(min=0, help="extra seconds per answer")] = 0.0,
    end: Annotated[
        str | None, typer.Option(help="fixed time of the last observation (default: now)")
    ] = None,
) -> None:
    """Serve a course-compatible monitoring source with deterministic data.

    Example: usagelens simulate --port 21122
    """
    from usagelens.simulator import create_simulator_app

    app_kwargs: dict[str, Any] = {"delay": delay}
    if end is not None:
        try:
            fixed = parse_timestamp(end)
        except ValueError as exc:
            raise _fail(str(exc), 2) from None
        app_kwargs["clock"] = lambda: fixed
    err.print(f"simulator: http://{host}:{port}/monitoring/infrastructure/using/summary/1")
    uvicorn.run(
        create_simulator_app(branches, **app_kwargs), host=host, port=port, log_level="warning"
    )


@app.command()
def ingest(
    files: Annotated[list[Path], typer.Argument(help="summaries (text format, or .json)")],
    url: UrlOption = None,
    source: Annotated[str | None, typer.Option(help="names the batch")] = None,
) -> None:
    """Ingest usage summaries into the local database, or into a server with --url.

    Each file is one batch, stored whole or not at all. On a terminal, large files show
    a progress bar.

    Example: usagelens ingest summary.txt --url http://127.0.0.1:8000
    """
    settings = load_settings()
    service = None if url else _open_service(settings)
    for path in files:
        json_form = path.suffix.lower() == ".json"
        label = source or f"file {path.name}"
        try:
            with _progress(path) as advance:
                if service is not None:
                    result = _ingest_file(service.ingest, path, label, json_form, advance)
                    answer = {name: getattr(result, name) for name in result.__slots__}
                else:
                    assert url is not None
                    answer = _post_file(url, settings, path, label, json_form, advance)
        except OSError as exc:
            raise _fail(f"cannot read {path}: {exc.strerror}") from None
        except UsageLensError as exc:
            raise _fail(f"{path}: {exc}") from None
        typer.echo(
            f"{path}: {answer['observations']} observations — {answer['inserted']} inserted, "
            f"{answer['updated']} updated, {answer['duplicates']} duplicates "
            f"(batch {answer['batch_id']})"
        )


_READ_SIZE = 1 << 20
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


def _ingest_file(
    service: Ingest,
    path: Path,
    label: str,
    json_form: bool,
    advance: Callable[[int], None] = lambda _: None,
) -> IngestResult:
    """Parse a file as it is read (bounded memory) and store it in one transaction."""
    reader = PayloadReader(json_form)
    try:
        with path.open("rb") as file:
            while chunk := file.read(_READ_SIZE):
                reader.feed(chunk)
                advance(len(chunk))
    except InvalidInput:
        service.count_rejected("batches_rejected")
        raise
    return service.ingest_read(reader, source=label)


def _post_file(
    url: str,
    settings: Settings,
    path: Path,
    label: str,
    json_form: bool,
    advance: Callable[[int], None] = lambda _: None,
) -> dict[str, Any]:
    """Stream a file to a server's ingest endpoint; return its answer."""

    def chunks() -> Iterator[bytes]:
        with path.open("rb") as file:
            while chunk := file.read(_READ_SIZE):
                advance(len(chunk))
                yield chunk

    path.stat()  # a missing file fails here, before anything is sent
    content_type = "application/json" if json_form else "text/plain; charset=utf-8"
    with _client(url, settings) as client:
        response = client.post(
            "/api/v1/usage",
            content=chunks(),
            params={"source": label},
            headers={"Content-Type": content_type, "Content-Length": str(path.stat().st_size)},
        )
        answer: dict[str, Any] = _checked(response).json()
    return answer


@app.command()
def prices(
    file: Annotated[Path | None, typer.Argument(help="price list to set (YAML or JSON)")] = None,
    origin: Annotated[
        str | None,
        typer.Option(help="print one origin's list: a source's URL, manual or legacy"),
    ] = None,
    drop: Annotated[
        str | None, typer.Option(help="forget one origin's list (e.g. a retired source's)")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="with --drop: say what the list holds; forget nothing")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="with --drop: do not ask on a terminal")
    ] = False,
    url: UrlOption = None,
) -> None:
    """Set the hand-set price list from FILE, or print the prices in force without FILE.

    The hand-set list wins over every source's list and is never replaced by a refresh; each
    source's list is replaced only by that source's next answer. --drop ORIGIN forgets one
    list: on a terminal it says how many resources the list prices and asks first, unless
    --yes; --dry-run only says.

    Example: usagelens prices prices.yaml --url http://127.0.0.1:8000 (or: usagelens prices
    --drop http://old-mon:21122 --dry-run)
    """
    settings = load_settings()
    if dry_run and drop is None:
        raise _fail("--dry-run goes with --drop ORIGIN", 2)
    check = drop is not None and (dry_run or (not yes and sys.stdin.isatty()))
    payload = None
    if file is not None:
        try:
            payload = file.read_bytes()
        except OSError as exc:
            raise _fail(f"cannot read {file}: {exc.strerror}") from None
    if url:
        with _client(url, settings) as client:
            if check and drop is not None:
                listed = _checked(client.get("/api/v1/prices", params={"origin": drop})).json()
                sizes = {o["origin"]: o["resources"] for o in listed.get("origins", [])}
                _before_drop(drop, sizes.get(drop), dry_run)
            if drop is not None:
                answer = client.delete("/api/v1/prices", params={"origin": drop})
            elif payload is None:
                answer = client.get("/api/v1/prices", params={"origin": origin} if origin else {})
            else:
                answer = client.put("/api/v1/prices", content=payload)
            full = _checked(answer).json()
        document = {"values": full["values"]}
        origins = [(o["origin"], o["resources"]) for o in full.get("origins", [])]
    else:
        service = _dry_run_service(settings) if dry_run else _open_service(settings)
        if check and drop is not None:
            sizes = {e.origin: len(e.prices.values) for e in service.prices.price_lists()}
            _before_drop(drop, sizes.get(drop), dry_run)
        try:
            if drop is not None:
                if not service.prices.drop_prices(drop):
                    raise _fail(f"no price list of origin {drop!r} is stored")
                price_list = service.prices.prices()
            elif payload is None:
                price_list = service.prices.prices(origin)
            else:
                price_list = service.prices.replace_prices(payload)
        except UsageLensError as exc:
            raise _fail(str(exc)) from None
        document = price_list.to_document()
        origins = [(e.origin, len(e.prices.values)) for e in service.prices.price_lists()]
    if payload is not None:
        err.print(f"hand-set price list replaced: {len(document['values'])} resources")
    elif drop is not None:
        err.print(f"forgot the price list of {drop}", highlight=False, markup=False)
    shown = ", ".join(f"{name} ({count} resources)" for name, count in origins) or "none"
    err.print(f"lists, the one that wins first: {shown}", highlight=False, markup=False)
    typer.echo(dump_yaml(document), nl=False)


def _before_drop(origin: str, resources: int | None, dry_run: bool) -> None:
    """Say what forgetting a price list removes; end a dry run, or ask on a terminal."""
    if resources is None:
        raise _fail(f"no price list of origin {origin!r} is stored")
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


def _dry_run_service(settings: Settings) -> Handlers:
    """Open the store a dry run reads; a SQLite file that does not exist yet is not created
    (an empty store in memory stands for it)."""
    try:
        parsed = make_url(settings.database_url)
    except ArgumentError:
        return _open_service(settings)  # which says what is wrong with the URL
    path = parsed.database
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite and path and path != ":memory:" and not Path(path).exists():
        return _empty_store(settings)
    return _open_service(settings)


def _empty_store(settings: Settings) -> Handlers:
    """Open an empty store of this run's own (a SQLite file removed when the run ends)."""
    folder = tempfile.mkdtemp(prefix="usagelens-dry-run-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    engine = create_engine_for(f"sqlite:///{folder}/empty.db")
    _ENGINES.append(engine)
    migrate(engine)
    return handlers_for(settings, engine)


@app.command()
def report(
    format: Annotated[
        str, typer.Option("--format", "-f", help="text, markdown, csv, json, html")
    ] = "text",
    since: Annotated[str | None, typer.Option(help="from this time (UTC)")] = None,
    until: Annotated[str | None, typer.Option(help="before this time (UTC)")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write to a file")] = None,
    width: Annotated[
        int, typer.Option(min=60, help="columns the text report fits (names cut with …)")
    ] = 80,
    as_json: Annotated[bool, typer.Option("--json", help="the same as --format json")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no notes on stderr")] = False,
    url: UrlOption = None,
) -> None:
    """Print the full report: on a terminal as tables, otherwise in --format.

    Example: usagelens report --since 2026-11-20 --width 120
    """
    if as_json:
        format = "json"
    if format not in {"text", "markdown", "csv", "json", "html"}:
        raise _fail(f"unknown format {format!r} (text, markdown, csv, json, html)", 2)
    settings = load_settings()
    if url:
        params = {"format": format, "since": since, "until": until}
        with _client(url, settings) as client:
            text = _checked(
                client.get("/api/v1/report", params={k: v for k, v in params.items() if v})
            ).text
    else:
        the_report = _open_service(settings).queries.report(_window(since, until))
        if format == "text" and output is None and Console().is_terminal:
            _print_tables(the_report)
            return
        text = _render(the_report, format, width)
    if output:
        output.write_text(text, encoding="utf-8")
        if not quiet:
            err.print(f"report written to {output}")
    else:
        typer.echo(text, nl=False)


_DECISION_STYLE = {"delete": "red", "keep": "green", "extend": "yellow"}


def _print_tables(the_report: render.Report) -> None:
    """Draw the report as rich tables on a terminal: one per team, then the totals."""
    console = Console()
    currency = the_report.currency
    console.print(f"[bold]{render.report_title(the_report)}[/]", highlight=False)
    for team in the_report.teams:
        table = Table(
            title=f"Team: {team}",
            title_justify="left",
            title_style="bold",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
        )
        table.add_column("Resource", overflow="ellipsis", no_wrap=True, ratio=1, min_width=8)
        for column in ("Dim", "Mean", "Median", "Type", "Intensity", "Decision", "Cost"):
            numeric = column in {"Mean", "Median", "Cost"}
            table.add_column(
                column, justify="right" if numeric else "left", no_wrap=True, min_width=len(column)
            )
        for row in the_report.team_rows(team):
            decision = row.decision.value
            table.add_row(
                row.resource,
                row.dimension.value,
                f"{row.mean:.2f}",
                f"{row.median:.2f}",
                row.usage_type.value,
                row.intensity.value,
                f"[{_DECISION_STYLE[decision]}]{decision}[/]",
                "unpriced" if row.cost is None else render.money(row.cost),
            )
        console.print(table)
    totals = Table(
        title="Overall", title_justify="left", title_style="bold", show_header=False,
        box=box.SIMPLE,
    )  # fmt: skip
    totals.add_column("what")
    totals.add_column(currency, justify="right")
    totals.add_row("Total cost", render.money(the_report.costs.total))
    deleted = the_report.deleted
    totals.add_row("Money on what is to be deleted", render.money(deleted.total))
    for dimension, amount in deleted.by_dimension.items():
        totals.add_row(f"  {dimension}", render.money(amount))
    decisions = ", ".join(f"{n} {d}" for d, n in the_report.decisions.items())
    totals.add_row("Rows", f"{len(the_report.rows)} ({decisions})")
    totals.add_row("Unpriced resources", ", ".join(the_report.costs.unpriced) or "none")
    console.print(totals)


def _html_report(the_report: render.Report) -> str:
    from usagelens.api.ui.report import render_report

    return render_report(the_report)


def _render(the_report: render.Report, format: str, width: int = 80) -> str:
    if format == "json":
        return json.dumps(render.render_json(the_report), ensure_ascii=False, indent=2) + "\n"
    if format == "text":
        return render.render_text(the_report, width)
    renderers = {
        "text": render.render_text,
        "markdown": render.render_markdown,
        "csv": render.render_csv,
        "html": _html_report,
    }
    return renderers[format](the_report)


@app.command()
def load(
    url: Annotated[str, typer.Argument(help="URL to send every request to")],
    requests: Annotated[int, typer.Option("-n", "--requests", min=1, help="how many")] = 1,
    concurrency: Annotated[int, typer.Option("-c", "--concurrency", min=1, help="in flight")] = 1,
    method: Annotated[str, typer.Option("--method", "-X", help="HTTP method")] = "GET",
    form: Annotated[
        list[str] | None, typer.Option("--form", "-F", help="form field key=value (repeatable)")
    ] = None,
    json_body: Annotated[str | None, typer.Option("--json", help="JSON body")] = None,
    header: Annotated[
        list[str] | None, typer.Option("--header", "-H", help="'Name: value' (repeatable)")
    ] = None,
    print_answers: Annotated[
        bool, typer.Option("--print", help="print each answer's JSON body instead of a summary")
    ] = False,
    timeout: Annotated[float, typer.Option(help="seconds per request")] = 30.0,
) -> None:
    """Fire N requests with at most C in flight; print each answer or latency percentiles.

    Example: usagelens load http://127.0.0.1:8000/healthz -n 200 -c 20
    """
    try:
        headers = [parse_header(h) for h in header or []]
        fields = [pair for item in form or [] for pair in parse_form(item)]
        body = json.loads(json_body) if json_body is not None else None
    except ValueError as exc:
        raise _fail(str(exc), 2) from None
    if fields and body is not None:
        raise _fail("--form and --json cannot be combined", 2)
    method = method.upper()
    if method == "GET" and (fields or body is not None):
        method = "POST"
    request = Request(url, method, headers, fields, body)

    progress = None
    if not print_answers and err.is_terminal:
        from rich.progress import Progress

        progress = Progress(console=err, transient=True)
    task = progress.add_task("requests", total=requests) if progress else None

    def on_answer(answer: Answer) -> None:
        if print_answers:
            typer.echo(_answer_text(answer))
        elif progress is not None and task is not None:
            progress.advance(task)

    if progress:
        progress.start()
    try:
        summary = asyncio.run(
            run_load(request, count=requests, concurrency=concurrency, timeout=timeout,
                     on_answer=on_answer)
        )  # fmt: skip
    finally:
        if progress:
            progress.stop()
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(summary.statuses.items()))
    lines = [
        f"{len(summary.answers)} requests in {summary.elapsed:.3f} s "
        f"({summary.throughput:.1f} req/s), concurrency {concurrency}",
        f"status: {statuses}",
        "latency: " + ", ".join(
            f"{name} {summary.latency(q) * 1000:.1f} ms"
            for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0))
        ),
    ]  # fmt: skip
    for line in lines:
        (err.print if print_answers else typer.echo)(line)
    if any(a.status is None or a.status >= 400 for a in summary.answers):
        raise typer.Exit(1)


def _answer_text(answer: Answer) -> str:
    if answer.status is None:
        return json.dumps({"request": answer.index, "error": answer.error})
    try:
        return json.dumps(json.loads(answer.body), ensure_ascii=False)
    except ValueError:
        return answer.body.decode("utf-8", "replace")


@app.command("migrate")
def migrate_command() -> None:
    """Create or upgrade the database schema (USAGELENS_DATABASE_URL).

    Example: USAGELENS_DATABASE_URL=postgresql://u@db/usagelens usagelens migrate
    """
    settings = load_settings()
    _migrated_engine(settings).dispose()
    err.print(f"database at the newest schema: {_shown(settings.database_url)}")


@app.command()
def rebuild() -> None:
    """Recompute every aggregate from the stored observations, under the configured policy.

    This is how a new USAGELENS_POLICY_FILE takes effect (without one: the built-in
    default policy). Example: USAGELENS_POLICY_FILE=policy.yaml usagelens rebuild
    """
    settings = load_settings()
    service = handlers_for(settings, _migrated_engine(settings))
    started = time.perf_counter()
    result = service.maintenance.rebuild(settings.load_policy() or Policy())
    err.print(
        f"rebuilt {result.series} series from {result.observations} observations "
        f"under policy {result.policy} in {time.perf_counter() - started:.2f} s"
    )


@app.command()
def prune(
    older_than: Annotated[
        str | None,
        typer.Option(help="delete observations older than this (90d, 200h)"),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="say what would be deleted; delete nothing")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="do not ask for confirmation on a terminal")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="allow --older-than shorter than an hour")
    ] = False,
) -> None:
    """Delete old observations in bounded transactions; the aggregates stay exact.

    On a terminal it shows what would go (how many observations of how many series, from
    when to when, the cutoff) and asks first, unless --yes; elsewhere (a script, cron) it
    proceeds. --dry-run only shows. An age under an hour is refused without --force: 3m
    is three minutes.

    Example: usagelens prune --older-than 90d --dry-run, then usagelens prune
    --older-than 90d --yes
    """
    settings = load_settings()
    span = settings.retention
    if older_than is not None:
        try:
            seconds = parse_duration(older_than)
        except ValueError as exc:
            raise _fail(str(exc), 2) from None
        span = timedelta(seconds=seconds) if seconds else None
    if span is None:
        raise _fail("nothing to prune by: pass --older-than 90d or set USAGELENS_RETENTION", 2)
    if span < MIN_RETENTION and not (force or dry_run):
        raise _fail(
            f"--older-than {older_than} is shorter than an hour (s, m, h, d: seconds, "
            "minutes, hours, days): it would delete nearly everything; pass --force if that "
            "is what you mean",
            2,
        )
    service = _dry_run_service(settings) if dry_run else _open_service(settings)
    ask = not (dry_run or yes) and sys.stdin.isatty()
    cutoff = service.maintenance.clock() - span
    if dry_run or ask:
        plan = service.maintenance.prune_plan(span)
        cutoff = plan.cutoff
        lines = _prune_plan_lines(plan, span)
        if dry_run:
            typer.echo("\n".join([*lines, "dry run: nothing deleted"]))
            return
        for line in lines:
            err.print(line, highlight=False)
        if not plan.observations:
            return
        if not typer.confirm("Delete them?", default=False, err=True):
            err.print("nothing deleted")
            raise typer.Exit(1)
    started = time.perf_counter()

    def progress(removed: int) -> None:
        if err.is_terminal:
            err.print(f"\r{removed} observations deleted", end="")

    result = service.maintenance.prune_before(cutoff, progress)
    if err.is_terminal and result.transactions:
        err.print()
    transactions = f"{result.transactions} transaction{'s' if result.transactions != 1 else ''}"
    err.print(
        f"pruned {result.observations} observations of {result.series} series collected "
        f"before {_utc(result.cutoff)} (older than {describe_duration(span)}) in "
        f"{transactions}, {time.perf_counter() - started:.2f} s",
        highlight=False,
    )


def _prune_plan_lines(plan: PruneResult, span: timedelta) -> list[str]:
    """Say what a prune would delete: the cutoff, then how much of what and from when."""
    lines = [f"cutoff: {_utc(plan.cutoff)} (older than {describe_duration(span)})"]
    if plan.oldest is None or plan.newest is None:
        return [*lines, "nothing is older than the cutoff: nothing to delete"]
    return [
        *lines,
        f"would delete {plan.observations} observations of {plan.series} series, "
        f"collected {_utc(plan.oldest)} to {_utc(plan.newest)}",
    ]


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="API port")] = 8000,
    simulator_port: Annotated[int, typer.Option(help="simulator port (0: any free)")] = 0,
    database: Annotated[str, typer.Option(help="database URL")] = "sqlite:///./usagelens-demo.db",
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="keep serving")] = True,
) -> None:
    """Run the whole pipeline on embedded defaults: simulator → refresh → report → serve.

    Example: usagelens demo --no-serve
    """
    from usagelens.api import create_app
    from usagelens.simulator import create_simulator_app

    if serve and not _port_free("127.0.0.1", port):
        raise _fail(f"port {port} is taken; pick another with --port")
    if serve:
        err.print(
            f"[bold]Dashboard: http://127.0.0.1:{port}/[/]  (ready after the steps below)",
            highlight=False,
        )
    sim_port = simulator_port or _free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    sim = _serve_in_thread(create_simulator_app(), "127.0.0.1", sim_port)
    err.print(f"[bold]1.[/] simulator serving at {sim_url}")

    settings = load_settings(database_url=database, sources=[sim_url], branches=[1])
    service = _open_service(settings)
    err.print(f"[bold]2.[/] database ready: {database}")

    outcomes = asyncio.run(_refresh(service.refresh, settings))
    err.print("[bold]3.[/] refreshed from the simulator:")
    for outcome in outcomes:
        mark = "[green]ok[/]" if outcome.ok else "[red]failed[/]"
        where = f"branch {outcome.branch}" if outcome.branch is not None else "prices"
        err.print(f"   {mark} {where}: {outcome.detail}", highlight=False)

    the_report = service.queries.report()
    typer.echo(render.render_text(the_report))
    _money_table(the_report)
    if not serve:
        sim.should_exit = True
        return
    api_url = f"http://127.0.0.1:{port}"
    err.print(
        f"\n[bold]4.[/] serving at {api_url}  (Ctrl-C to stop)\n"
        f"   dashboard: {api_url}/\n"
        f"   report:   {api_url}/api/v1/report?format=html\n"
        f"   rows:     {api_url}/api/v1/resources?decision=delete\n"
        f"   money:    {api_url}/api/v1/costs/deleted\n"
        f"   metrics:  {api_url}/metrics\n"
        f"   OpenAPI:  {api_url}/docs\n"
        f"   refresh:  curl -X POST {api_url}/api/v1/webhooks/refresh",
        highlight=False,
    )
    try:
        uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    finally:
        sim.should_exit = True


async def _refresh(refresh: Refresh, settings: Settings) -> list[PullOutcome]:
    outcomes = await refresh_configured(refresh, settings, holder=holder_name("demo"))
    if outcomes is None:
        raise _fail("another refresh holds the lease on this database; try again shortly")
    return outcomes


def _money_table(the_report: render.Report) -> None:
    table = Table(title=f"Money ({the_report.currency})", title_justify="left")
    table.add_column("Team", no_wrap=True)
    for column in ("Total", "Delete CPU", "Delete RAM", "Delete NetFlow", "Delete total"):
        table.add_column(column, justify="right")
    for team in the_report.teams:
        deleted = the_report.deleted.teams[team]
        table.add_row(
            team,
            render.money(the_report.costs.teams[team]),
            *(render.money(deleted[k]) for k in ("CPU", "RAM", "NetFlow", "total")),
        )
    overall = the_report.deleted.by_dimension
    table.add_row(
        "[bold]all teams[/]",
        render.money(the_report.costs.total),
        *(render.money(overall[k]) for k in ("CPU", "RAM", "NetFlow")),
        render.money(the_report.deleted.total),
    )
    Console(width=max(shutil.get_terminal_size().columns, 120)).print(table)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _serve_in_thread(asgi: Any, host: str, port: int) -> uvicorn.Server:
    server = uvicorn.Server(uvicorn.Config(asgi, host=host, port=port, log_level="warning"))
    threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise _fail(f"the server on {host}:{port} did not start")
        time.sleep(0.02)
    return server


policy_app = typer.Typer(help="Inspect the decision policy.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


@policy_app.command("diff")
def policy_diff(
    file: Annotated[Path, typer.Argument(help="candidate policy (YAML or JSON)")],
    since: Annotated[str | None, typer.Option(help="from this time (UTC)")] = None,
    until: Annotated[str | None, typer.Option(help="before this time (UTC)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    url: UrlOption = None,
) -> None:
    """Show which rows a candidate policy would decide otherwise, and how the money on
    what is to be deleted would move. Nothing is stored.

    Example: usagelens policy diff stricter.yaml
    """
    settings = load_settings()
    try:
        payload = file.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read {file}: {exc.strerror}") from None
    if url:
        params = {k: v for k, v in {"since": since, "until": until}.items() if v}
        with _client(url, settings) as client:
            document = _checked(
                client.post("/api/v1/policy/preview", content=payload, params=params)
            ).json()
    else:
        try:
            candidate = policy_from_document(load_document(payload, what=f"policy {file}"))
        except InvalidInput as exc:
            raise _fail(str(exc)) from None
        service = _open_service(settings)
        document = service.queries.policy_diff(candidate, _window(since, until)).to_document(
            service.queries.currency
        )
    if as_json:
        typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
        return
    _print_policy_diff(document)


def _print_policy_diff(document: dict[str, Any]) -> None:
    console = Console()
    currency = document["currency"]
    console.print(
        f"{document['changed']} of {document['rows']} rows change decision", highlight=False
    )
    if document["changes"]:
        table = Table("team", "resource", "dim", "now", "candidate")
        table.add_column(f"cost {currency}", justify="right")
        for change in document["changes"]:
            cost = change["cost"]
            table.add_row(
                change["team"],
                change["resource"],
                change["dimension"],
                change["before"],
                change["after"],
                "—" if cost is None else f"{cost:,.2f}",
            )
        console.print(table)
    money = document["deleted_cost"]
    table = Table(f"money on what is to be deleted ({currency})")
    for heading in ("now", "candidate", "change"):
        table.add_column(heading, justify="right")
    for key in ("CPU", "RAM", "NetFlow", "total"):
        table.add_row(
            key,
            f"{money['before'][key]:,.2f}",
            f"{money['after'][key]:,.2f}",
            f"{money['change'][key]:+,.2f}",
        )
    console.print(table)


@app.command("export")
def export_command(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write to a file (default: stdout)")
    ] = None,
) -> None:
    """Write everything stored as one JSON document: observations (in the summary text
    format), prices, pushed counts and the policy. `usagelens import` restores it.

    Example: usagelens export -o backup.json
    """
    document = _open_service(load_settings()).maintenance.export()
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
        raise _fail(f"cannot read {file}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _fail(f"{file} is not JSON ({exc})") from None
    settings = load_settings()
    try:
        if dry_run:
            plan = _dry_run_service(settings).maintenance.import_plan(document)
        else:
            result = _open_service(settings).maintenance.import_(document)
    except UsageLensError as exc:
        raise _fail(f"{file}: {exc}") from None
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
        raise _fail(
            f"the store at {_shown(settings.database_url)} is not empty: import would refuse "
            "it (import only into a new database)"
        )
    typer.echo(f"the store at {_shown(settings.database_url)} is empty: import would take it")
    typer.echo("dry run: nothing written")
