"""Serving: the API, the simulator, and the demo of the whole pipeline."""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from typing import Annotated, Any

import typer
import uvicorn
from rich.console import Console
from rich.table import Table

from usagelens.app import Refresh
from usagelens.cli.common import (
    app,
    err,
    fail,
    open_local,
)
from usagelens.config import (
    Settings,
    load_settings,
)
from usagelens.domain import report as render
from usagelens.domain.summary import parse_timestamp
from usagelens.domain.times import parse_duration
from usagelens.logs import logging_config
from usagelens.pulls import PullOutcome
from usagelens.wiring import holder_name, refresh_configured


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on", metavar="HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on", metavar="PORT")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="worker processes on one port", metavar="N")
    ] = 1,
    refresh_every: Annotated[
        str | None,
        typer.Option(
            help="pull from USAGELENS_SOURCES periodically, e.g. 30s, 5m, 1h", metavar="PERIOD"
        ),
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
            raise fail(str(exc), 2) from None
        os.environ["USAGELENS_REFRESH_EVERY"] = refresh_every  # the workers read it
    settings = load_settings()
    if settings.refresh_every and not settings.sources:
        raise fail("--refresh-every needs USAGELENS_SOURCES", 2)
    from usagelens.api.access import is_loopback  # the API (FastAPI) only when serving

    if settings.token is None and not is_loopback(host):
        raise fail(
            f"refusing to listen on {host} without USAGELENS_API_TOKEN: "
            "set a token, or listen on loopback (127.0.0.1)"
        )
    open_local(settings).store.engine.dispose()  # type: ignore[attr-defined]
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
def simulate(
    host: Annotated[str, typer.Option(help="address to listen on", metavar="HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on", metavar="PORT")] = 21122,
    branches: Annotated[
        int, typer.Option(min=1, help="company branches 1..N exist", metavar="N")
    ] = 10,
    delay: Annotated[
        float, typer.Option(min=0, help="extra seconds per answer", metavar="SECONDS")
    ] = 0.0,
    end: Annotated[
        str | None,
        typer.Option(help="fixed time of the last observation (default: now)", metavar="WHEN"),
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
            raise fail(str(exc), 2) from None
        app_kwargs["clock"] = lambda: fixed
    err.print(f"simulator: http://{host}:{port}/monitoring/infrastructure/using/summary/1")
    uvicorn.run(
        create_simulator_app(branches, **app_kwargs), host=host, port=port, log_level="warning"
    )


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="API port", metavar="PORT")] = 8000,
    simulator_port: Annotated[
        int, typer.Option(help="simulator port (0: any free)", metavar="PORT")
    ] = 0,
    database: Annotated[
        str, typer.Option(help="database URL", metavar="URL")
    ] = "sqlite:///./usagelens-demo.db",
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="keep serving")] = True,
) -> None:
    """Run the whole pipeline on embedded defaults: simulator → refresh → report → serve.

    Example: usagelens demo --no-serve
    """
    from usagelens.api import create_app
    from usagelens.simulator import create_simulator_app

    if serve and not _port_free("127.0.0.1", port):
        raise fail(f"port {port} is taken; pick another with --port")
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
    service = open_local(settings)
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
        raise fail("another refresh holds the lease on this database; try again shortly")
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
            raise fail(f"the server on {host}:{port} did not start")
        time.sleep(0.02)
    return server
