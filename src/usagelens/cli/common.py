"""What every command shares: the console, one-line errors, the store or server it talks to."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from usagelens.app import Handlers
from usagelens.client import Client, HttpClient, LocalClient
from usagelens.config import (
    Settings,
)
from usagelens.domain.errors import NotConfigured
from usagelens.domain.model import Window
from usagelens.domain.times import as_utc, parse_bound
from usagelens.storage import create_engine_for, migrate
from usagelens.storage.errors import DATABASE_ERRORS, classify
from usagelens.wiring import handlers_for

app = typer.Typer(
    help="usagelens: what each team's infrastructure uses, what it costs, what to cut.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, soft_wrap=True)


Format = Literal["text", "markdown", "csv", "json", "html"]
UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url", metavar="URL", help="talk to a running server instead of the local database"
    ),
]

TeamsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--team", metavar="TEAM", help="only this team (repeat for several; error if not stored)"
    ),
]


ENGINES: list[Engine] = []
"""Engines this run opened, closed when it ends (however it ends)."""


def exit_with(message: str) -> NoReturn:
    first = message.strip().splitlines()[0] if message.strip() else "failed"
    err.print(f"[bold red]error:[/] {escape(first)}", highlight=False)
    raise SystemExit(1) from None


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


def open_local(settings: Settings, *, prepare: bool = True) -> Handlers:
    """Open the local store: migrate, check the policy, rebuild stale aggregates once
    (``prepare=False`` leaves that to the command: a rebuild under another policy)."""
    service = handlers_for(settings, migrated_engine(settings))
    if not prepare:
        return service
    rebuilt = service.maintenance.prepare()
    if rebuilt is not None:
        err.print(
            f"rebuilt the aggregates of {rebuilt.series} series "
            f"({rebuilt.observations} observations) after a schema upgrade"
        )
    return service


def migrated_engine(settings: Settings) -> Engine:
    """Connect to USAGELENS_DATABASE_URL and migrate it; a bad URL ends in one line."""
    where = shown(settings.database_url)
    try:
        engine = create_engine_for(settings.database_url)
        ENGINES.append(engine)
        migrate(engine)
    except (NoSuchModuleError, ArgumentError, NotConfigured):
        raise fail(f"USAGELENS_DATABASE_URL={where}: {_UNKNOWN_URL}") from None
    except DATABASE_ERRORS as exc:
        raise fail(f"USAGELENS_DATABASE_URL={where}: {_why(exc)}") from None
    return engine


def shown(url: str) -> str:
    """A database URL with its password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


_UNKNOWN_URL = "not a database URL this service knows (sqlite:///path.db or postgresql://…)"


def _why(exc: Exception) -> str:
    """One line on why a database cannot be opened."""
    return f"cannot open the database ({str(classify(exc)).split(': ', 1)[-1]})"


def window_of(since: str | None, until: str | None) -> Window:
    """The window that --since and --until name (as the API reads them); exit 2 if bad."""
    start = _moment(since, "--since") if since else None
    end = _moment(until, "--until") if until else None
    if start is not None and end is not None and start >= end:
        raise fail(
            f"--since ({start:%Y-%m-%d %H:%M:%S}) must be before --until ({end:%Y-%m-%d %H:%M:%S})",
            2,
        )
    return Window(start, end)


def _moment(text: str, option: str) -> datetime | None:
    """Read a time as the API does: a date, a date-time, ISO 8601 (UTC unless it says), a
    span back from now (``7d``), or ``all`` (no bound)."""
    try:
        return parse_bound(text)
    except ValueError as exc:
        raise fail(f"{option} {exc}", 2) from None


def open_for_dry_run(settings: Settings) -> Handlers:
    """Open the store a dry run reads; a SQLite file that does not exist yet is not created
    (an empty store in memory stands for it)."""
    try:
        parsed = make_url(settings.database_url)
    except ArgumentError:
        return open_local(settings)  # which says what is wrong with the URL
    path = parsed.database
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite and path and path != ":memory:" and not Path(path).exists():
        return _empty_store(settings)
    return open_local(settings)


def _empty_store(settings: Settings) -> Handlers:
    """Open an empty store of this run's own (a SQLite file removed when the run ends)."""
    folder = tempfile.mkdtemp(prefix="usagelens-dry-run-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    engine = create_engine_for(f"sqlite:///{folder}/empty.db")
    ENGINES.append(engine)
    migrate(engine)
    return handlers_for(settings, engine)


def utc_text(moment: datetime) -> str:
    return f"{as_utc(moment):%Y-%m-%d %H:%M:%S} UTC"


@contextmanager
def open_client(
    url: str | None, settings: Settings, *, dry_run: bool = False, prepare: bool = True
) -> Iterator[Client]:
    """Yield the store a command works on: a server's API with ``--url``, else the local
    database (for a dry run, one that a missing SQLite file is not created for)."""
    if url:
        with HttpClient(url, settings.token) as client:
            yield client
        return
    opened = open_for_dry_run(settings) if dry_run else open_local(settings, prepare=prepare)
    yield LocalClient(opened, shown(settings.database_url))


policy_app = typer.Typer(help="Inspect the decision policy.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")
