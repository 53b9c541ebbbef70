"""Reports: the full report in every format, and what a candidate policy would change."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from usagelens.api.schemas import ChangesOut
from usagelens.cli.common import (
    TeamsOption,
    UrlOption,
    app,
    err,
    fail,
    open_client,
    policy_app,
    utc_text,
    window_of,
)
from usagelens.config import (
    load_settings,
)
from usagelens.documents import dump_yaml, load_document
from usagelens.domain import report as render
from usagelens.domain.errors import InvalidInput
from usagelens.domain.money import format_money
from usagelens.domain.policy import policy_from_document


@app.command()
def report(
    format: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="text, markdown, csv, json, html, focus (the costs as FOCUS 1.2 CSV)",
            metavar="FORMAT",
        ),
    ] = "text",
    since: Annotated[str | None, typer.Option(help="from this time (UTC)", metavar="WHEN")] = None,
    until: Annotated[
        str | None, typer.Option(help="before this time (UTC)", metavar="WHEN")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write to a file", metavar="FILE")
    ] = None,
    width: Annotated[
        int,
        typer.Option(
            min=60, metavar="COLUMNS", help="columns the text report fits (names cut with …)"
        ),
    ] = 80,
    as_json: Annotated[bool, typer.Option("--json", help="the same as --format json")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no notes on stderr")] = False,
    team: TeamsOption = None,
    url: UrlOption = None,
) -> None:
    """Print the full report (of every team, or the --team ones): on a terminal as tables,
    otherwise in --format.

    Example: usagelens report --since 2026-11-20 --width 120 --team checkout
    """
    if as_json:
        format = "json"
    if format not in _FORMATS:
        raise fail(f"unknown format {format!r} ({', '.join(_FORMATS)})", 2)
    window = window_of(since, until)
    with open_client(url, load_settings()) as client:
        if format == "focus":
            _write_focus(client.focus_export(window, team or ()), output, quiet)
            return
        the_report = client.report(window, team or ())
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


_FORMATS = ("text", "markdown", "csv", "json", "html", "focus")


def _write_focus(chunks: Iterator[str], output: Path | None, quiet: bool) -> None:
    """Write the FOCUS export chunk by chunk, to a file (whole or not at all) or stdout."""
    if output is None:
        for chunk in chunks:
            typer.echo(chunk, nl=False)
        return
    partial = output.with_name(output.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as file:
            for chunk in chunks:
                file.write(chunk)
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    if not quiet:
        err.print(f"FOCUS export written to {output}")


_DECISION_STYLE = {"delete": "red", "keep": "green", "extend": "yellow"}


def _print_tables(the_report: render.Report) -> None:
    """Draw the report as rich tables on a terminal: one per team, then the totals."""
    console = Console()
    currency = the_report.currency
    console.print(f"[bold]{render.report_title(the_report)}[/]", highlight=False)
    for team in the_report.teams:
        owner = the_report.contact(team)
        table = Table(
            title=f"Team: {escape(team)}" + (f" ({escape(owner)})" if owner else ""),
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
            cells = [escape(cell) for cell in render.row_cells(row)]  # names are data, not markup
            decision = row.decision.value
            cells[render.COLUMNS.index("Decision")] = f"[{_DECISION_STYLE[decision]}]{decision}[/]"
            table.add_row(*cells)
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
    totals.add_row("Unpriced resources", escape(", ".join(the_report.costs.unpriced)) or "none")
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


@policy_app.command("show")
def policy_show(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    url: UrlOption = None,
) -> None:
    """Print the decision policy in force (YAML; a candidate for `policy diff` starts here).

    Example: usagelens policy show > candidate.yaml
    """
    with open_client(url, load_settings()) as client:
        answer = client.policy()
    if as_json:
        typer.echo(json.dumps(answer, ensure_ascii=False, indent=2))
        return
    typer.echo(
        f"# the policy in force (from {answer['source']}, fingerprint {answer['fingerprint']})"
    )
    typer.echo(dump_yaml(answer["policy"]), nl=False)


@policy_app.command("diff")
def policy_diff(
    file: Annotated[Path, typer.Argument(help="candidate policy (YAML or JSON)")],
    since: Annotated[str | None, typer.Option(help="from this time (UTC)", metavar="WHEN")] = None,
    until: Annotated[
        str | None, typer.Option(help="before this time (UTC)", metavar="WHEN")
    ] = None,
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
        raise fail(f"cannot read {file}: {exc.strerror}") from None
    try:  # checked here, before any store or server is asked
        policy_from_document(load_document(payload, what=f"policy {file}"))
    except InvalidInput as exc:
        raise fail(str(exc)) from None
    window = window_of(since, until)
    with open_client(url, settings) as client:
        document = client.policy_diff(payload, window)
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
                "—" if cost is None else format_money(cost),
            )
        console.print(table)
    money = document["deleted_cost"]
    table = Table(f"money on what is to be deleted ({currency})")
    for heading in ("now", "candidate", "change"):
        table.add_column(heading, justify="right")
    for key in ("CPU", "RAM", "NetFlow", "total"):
        table.add_row(
            key,
            format_money(money["before"][key]),
            format_money(money["after"][key]),
            format_money(money["change"][key], signed=True),
        )
    console.print(table)


@app.command()
def changes(
    since: Annotated[
        str, typer.Option(help="compare now with this time (7d: a week ago)", metavar="WHEN")
    ] = "7d",
    team: TeamsOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    url: UrlOption = None,
) -> None:
    """Say what changed since a time: which resources became delete candidates and which
    stopped being, other decision changes, new and vanished series, and how the money on
    what is to be deleted moved, per team and overall.

    Example: usagelens changes --since 7d --team checkout
    """
    moment = window_of(since, None).since
    if moment is None:
        raise fail("--since: give a time to compare with (7d, 2026-11-27)", 2)
    with open_client(url, load_settings()) as client:
        answer = client.changes(moment, team or ())
    if as_json:
        typer.echo(answer.model_dump_json(indent=2))
        return
    typer.echo(render_changes(answer))


def render_changes(answer: ChangesOut) -> str:
    """Write what changed as text: the money first, then each kind of change."""
    currency = answer.currency
    lines = [
        f"Changes since {utc_text(answer.since)}",
        "Money on what is to be deleted: "
        f"{format_money(answer.deleted.before, currency)} then, "
        f"{format_money(answer.deleted.after, currency)} now "
        f"({format_money(answer.deleted.change, signed=True)})",
    ]
    groups = (
        ("Became delete candidates", "became_candidate"),
        ("Stopped being delete candidates", "stopped_candidate"),
        ("Other decision changes", "other"),
    )
    for title, kind in groups:
        moved = [c for c in answer.decisions if c.kind == kind]
        lines.append(f"{title}: {len(moved)}")
        for c in moved:
            when = f", {utc_text(c.when)}" if c.when else ""
            cost = format_money(c.cost_after, currency)
            lines.append(
                f"  {c.team} / {c.resource} / {c.dimension}: {c.before} → {c.after}"
                f" ({cost}{when}): {c.reason_after}"
            )
    for title, ends in (("New series", answer.new), ("Vanished series", answer.vanished)):
        lines.append(f"{title}: {len(ends)}")
        for e in ends:
            money = format_money(e.cost, currency)
            lines.append(f"  {e.team} / {e.resource} / {e.dimension}: {e.decision} ({money})")
    lines.append("Per team, the money on what is to be deleted (then → now):")
    for name, move in answer.teams.items():
        lines.append(
            f"  {name}: {format_money(move.before)} → {format_money(move.after)}"
            f" ({format_money(move.change, signed=True)})"
        )
    return "\n".join(lines)
