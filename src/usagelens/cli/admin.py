"""Administration: migrate the schema, rebuild under a policy, prune old observations."""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from typing import Annotated

import typer

from usagelens.app import PruneResult
from usagelens.cli.common import (
    UrlOption,
    app,
    err,
    fail,
    migrated_engine,
    open_client,
    shown,
    utc_text,
)
from usagelens.config import (
    MIN_RETENTION,
    describe_duration,
    load_settings,
)
from usagelens.domain.policy import Policy
from usagelens.domain.times import parse_duration


@app.command("migrate")
def migrate_command() -> None:
    """Create or upgrade the database schema (USAGELENS_DATABASE_URL).

    Example: USAGELENS_DATABASE_URL=postgresql://u@db/usagelens usagelens migrate
    """
    settings = load_settings()
    migrated_engine(settings).dispose()
    err.print(f"database at the newest schema: {shown(settings.database_url)}")


@app.command()
def rebuild(url: UrlOption = None) -> None:
    """Recompute every aggregate from the stored observations, under the configured policy.

    This is how a new USAGELENS_POLICY_FILE takes effect (without one: the built-in
    default policy). With --url the server rebuilds under the policy it is configured with.

    Example: USAGELENS_POLICY_FILE=policy.yaml usagelens rebuild
    """
    settings = load_settings()
    started = time.perf_counter()
    with open_client(url, settings, prepare=False) as client:
        result = client.rebuild(settings.load_policy() or Policy())
    err.print(
        f"rebuilt {result.series} series from {result.observations} observations "
        f"under policy {result.policy} in {time.perf_counter() - started:.2f} s"
    )


@app.command()
def prune(
    older_than: Annotated[
        str | None,
        typer.Option(help="delete observations older than this (90d, 200h)", metavar="AGE"),
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
    url: UrlOption = None,
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
            raise fail(str(exc), 2) from None
        span = timedelta(seconds=seconds) if seconds else None
    if span is None:
        raise fail("nothing to prune by: pass --older-than 90d or set USAGELENS_RETENTION", 2)
    if span < MIN_RETENTION and not (force or dry_run):
        raise fail(
            f"--older-than {older_than} is shorter than an hour (s, m, h, d: seconds, "
            "minutes, hours, days): it would delete nearly everything; pass --force if that "
            "is what you mean",
            2,
        )
    ask = not (dry_run or yes) and sys.stdin.isatty()
    with open_client(url, settings, dry_run=dry_run) as client:
        plan = client.prune_plan(span)  # the cutoff by the store's clock, and what goes
        lines = _prune_plan_lines(plan, span)
        if dry_run:
            typer.echo("\n".join([*lines, "dry run: nothing deleted"]))
            return
        if ask:
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

        result = client.prune_before(plan.cutoff, progress)
    if err.is_terminal and result.transactions:
        err.print()
    transactions = f"{result.transactions} transaction{'s' if result.transactions != 1 else ''}"
    err.print(
        f"pruned {result.observations} observations of {result.series} series collected "
        f"before {utc_text(result.cutoff)} (older than {describe_duration(span)}) in "
        f"{transactions}, {time.perf_counter() - started:.2f} s",
        highlight=False,
    )


def _prune_plan_lines(plan: PruneResult, span: timedelta) -> list[str]:
    """Say what a prune would delete: the cutoff, then how much of what and from when."""
    lines = [f"cutoff: {utc_text(plan.cutoff)} (older than {describe_duration(span)})"]
    if plan.oldest is None or plan.newest is None:
        return [*lines, "nothing is older than the cutoff: nothing to delete"]
    return [
        *lines,
        f"would delete {plan.observations} observations of {plan.series} series, "
        f"collected {utc_text(plan.oldest)} to {utc_text(plan.newest)}",
    ]
