"""Recommendations on the command line: list, show, move them; exclusions; the digest."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from usagelens.api.schemas import ExclusionIn, RecommendationOut
from usagelens.app import Filters
from usagelens.cli.common import TeamsOption, UrlOption, app, err, fail, open_client, window_of
from usagelens.config import load_settings
from usagelens.digest import digest_message
from usagelens.domain.errors import UsageLensError
from usagelens.domain.model import Decision, Dimension
from usagelens.domain.money import format_money
from usagelens.domain.recommendations import State
from usagelens.domain.times import parse_duration, parse_moment, utc_now

recommendations_app = typer.Typer(
    help="Act on the rows to delete or extend: list, show, dismiss, snooze, claim, reopen, done.",
    no_args_is_help=True,
)
app.add_typer(recommendations_app, name="recommendations")

IdArgument = Annotated[str, typer.Argument(help="the recommendation's id (from list)")]
ReasonOption = Annotated[str, typer.Option(help="why, for the history", metavar="TEXT")]
ByOption = Annotated[str, typer.Option(help="who, for the history", metavar="NAME")]


@recommendations_app.command("list")
def list_command(
    state: Annotated[
        str | None, typer.Option(help="only this state (active, claimed, …)", metavar="STATE")
    ] = None,
    decision: Annotated[
        str | None, typer.Option(help="only delete or extend", metavar="DECISION")
    ] = None,
    team: TeamsOption = None,
    dimension: Annotated[
        str | None, typer.Option(help="only CPU, RAM or NetFlow", metavar="DIMENSION")
    ] = None,
    text: Annotated[
        str | None, typer.Option("--text", "-q", help="a part of team or resource", metavar="TEXT")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    url: UrlOption = None,
) -> None:
    """List the recommendations with their state, cost and evidence.

    Example: usagelens recommendations list --state active --decision delete
    """
    try:
        filters = Filters(
            None if state is None else State(state),
            None if decision is None else Decision(decision),
            team,
            None if dimension is None else Dimension(dimension),
            text,
        )
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    with open_client(url, load_settings()) as client:
        items = client.recommendations.items(window_of(None, None), filters)
    if as_json:
        typer.echo(json.dumps([i.model_dump(mode="json") for i in items], ensure_ascii=False))
        return
    table = Table("id", "team", "resource", "dim", "decision", "state", "cost", "obs", "by")
    for item in items:
        table.add_row(
            item.id, escape(item.team), escape(item.resource), item.dimension, item.decision,
            item.state + ("" if item.evidence.enough_data else " (little data)"),
            format_money(item.cost),
            str(item.evidence.observations), escape(item.by),
        )  # fmt: skip
    Console().print(table)
    err.print(f"{len(items)} recommendations", highlight=False)


@recommendations_app.command("show")
def show(rec_id: IdArgument, url: UrlOption = None) -> None:
    """Show one recommendation, its evidence and its history.

    Example: usagelens recommendations show 4f60688a5b5e2d86
    """
    with open_client(url, load_settings()) as client:
        detail = client.recommendations.show(rec_id)
    typer.echo(json.dumps(detail.model_dump(mode="json", by_alias=True), ensure_ascii=False,
                          indent=2))  # fmt: skip


def _move(
    rec_id: str, state: State, reason: str, by: str, url: str | None,
    until: datetime | None = None,
) -> RecommendationOut:  # fmt: skip
    with open_client(url, load_settings()) as client:
        try:
            moved = client.recommendations.move(rec_id, state, reason=reason, until=until, by=by)
        except UsageLensError as exc:
            raise fail(str(exc)) from None
    err.print(
        f"{moved.id} ({escape(moved.team)} {escape(moved.resource)} {moved.dimension}, "
        f"{moved.decision}): {moved.state}" + (f" until {moved.until:%Y-%m-%d %H:%M} UTC"
                                              if moved.until else ""),
        highlight=False,
    )  # fmt: skip
    return moved


@recommendations_app.command()
def dismiss(
    rec_id: IdArgument, reason: ReasonOption = "", by: ByOption = "", url: UrlOption = None
) -> None:
    """Dismiss a recommendation for good (we keep this one on purpose).

    Example: usagelens recommendations dismiss 4f60688a5b5e2d86 --reason "the DR replica"
    """
    _move(rec_id, State.DISMISSED, reason, by, url)


@recommendations_app.command()
def snooze(
    rec_id: IdArgument,
    until: Annotated[str | None, typer.Option(help="until this time (UTC)", metavar="WHEN")] = None,
    for_: Annotated[
        str | None, typer.Option("--for", help="for this long (7d, 12h)", metavar="SPAN")
    ] = None,
    reason: ReasonOption = "",
    by: ByOption = "",
    url: UrlOption = None,
) -> None:
    """Dismiss a recommendation until a time; it is active again then.

    Example: usagelens recommendations snooze 4f60688a5b5e2d86 --for 14d --reason "after the sale"
    """
    if (until is None) == (for_ is None):
        raise fail("say how long: --until WHEN or --for SPAN", 2)
    try:
        if until is not None:
            end = parse_moment(until)
        else:
            seconds = parse_duration(for_ or "")
            if not seconds:
                raise ValueError(f"--for {for_!r} is not a span (7d, 12h)")
            end = utc_now() + timedelta(seconds=seconds)
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    _move(rec_id, State.DISMISSED, reason, by, url, until=end)


@recommendations_app.command()
def claim(
    rec_id: IdArgument, reason: ReasonOption = "", by: ByOption = "", url: UrlOption = None
) -> None:
    """Claim a recommendation: someone is acting on it. A claimed deletion succeeds by
    itself once its resource stops reporting (USAGELENS_SUCCESS_AFTER).

    Example: usagelens recommendations claim 4f60688a5b5e2d86 --by ann
    """
    _move(rec_id, State.CLAIMED, reason, by, url)


@recommendations_app.command()
def reopen(
    rec_id: IdArgument, reason: ReasonOption = "", by: ByOption = "", url: UrlOption = None
) -> None:
    """Make a recommendation active again (after a dismissal, a claim or a failure).

    Example: usagelens recommendations reopen 4f60688a5b5e2d86
    """
    _move(rec_id, State.ACTIVE, reason, by, url)


@recommendations_app.command()
def done(
    rec_id: IdArgument,
    failed: Annotated[bool, typer.Option("--failed", help="it did not work out")] = False,
    reason: ReasonOption = "",
    by: ByOption = "",
    url: UrlOption = None,
) -> None:
    """Close a claimed recommendation by hand: succeeded (or --failed). A claimed extend
    is closed this way; a claimed deletion closes by itself too.

    Example: usagelens recommendations done 4f60688a5b5e2d86 --reason "resized"
    """
    _move(rec_id, State.FAILED if failed else State.SUCCEEDED, reason, by, url)


@recommendations_app.command()
def summary(team: TeamsOption = None, url: UrlOption = None) -> None:
    """Print the money by state: actionable, dismissed, excluded, claimed, realised.

    Example: usagelens recommendations summary --team checkout
    """
    with open_client(url, load_settings()) as client:
        answer = client.recommendations.summary(window_of(None, None), team or ())
    typer.echo(json.dumps(answer.model_dump(mode="json"), ensure_ascii=False, indent=2))


@recommendations_app.command()
def exclude(
    team: Annotated[str, typer.Option(help="team glob (fnmatch)", metavar="GLOB")] = "*",
    resource: Annotated[str, typer.Option(help="resource glob", metavar="GLOB")] = "*",
    dimension: Annotated[
        str | None, typer.Option(help="only this dimension", metavar="DIMENSION")
    ] = None,
    reason: ReasonOption = "",
    url: UrlOption = None,
) -> None:
    """Add an exclusion rule: matching rows are excluded (shown, never alerted).

    Example: usagelens recommendations exclude --team "*" --resource "dr-*" --reason "DR"
    """
    try:
        rule = ExclusionIn(team=team, resource=resource, dimension=dimension, reason=reason)
    except ValueError as exc:
        raise fail(str(exc).splitlines()[0], 2) from None
    with open_client(url, load_settings()) as client:
        added = client.recommendations.exclude(rule)
    err.print(f"exclusion {added.id} added", highlight=False)


@recommendations_app.command()
def exclusions(url: UrlOption = None) -> None:
    """List the exclusion rules.

    Example: usagelens recommendations exclusions
    """
    with open_client(url, load_settings()) as client:
        rules = client.recommendations.exclusions()
    typer.echo(json.dumps([r.model_dump() for r in rules], ensure_ascii=False, indent=2))


@recommendations_app.command()
def unexclude(
    rule_id: Annotated[int, typer.Argument(help="the rule's id")], url: UrlOption = None
) -> None:
    """Remove an exclusion rule.

    Example: usagelens recommendations unexclude 3
    """
    with open_client(url, load_settings()) as client:
        client.recommendations.drop_exclusion(rule_id)
    err.print(f"exclusion {rule_id} removed", highlight=False)


@app.command()
def digest(
    webhook: Annotated[
        str | None,
        typer.Option(
            help="Slack-compatible webhook URL (default USAGELENS_DIGEST_WEBHOOK)", metavar="URL"
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print the message; post and mark nothing")
    ] = False,
    url: UrlOption = None,
) -> None:
    """Post the new delete candidates since the last digest, each once, as a
    Slack-compatible message ({"text": …}).

    Example: usagelens digest --webhook https://hooks.slack.com/services/…
    """
    settings = load_settings()
    target = webhook or settings.digest_webhook
    if not target and not dry_run:
        raise fail("no webhook: pass --webhook URL or set USAGELENS_DIGEST_WEBHOOK", 2)
    with open_client(url, settings) as client:
        items = client.recommendations.digest_candidates()
        message = digest_message(items, settings.currency, settings.team_contacts())
        if dry_run or not items:
            typer.echo(message["text"])
            return
        try:
            answer = httpx.post(str(target), json=message, timeout=30)
        except httpx.HTTPError as exc:
            raise fail(f"cannot post the digest to the webhook: {exc}") from None
        if not answer.is_success:
            raise fail(f"the webhook answered {answer.status_code}: {answer.text[:200]}")
        client.recommendations.mark_digested([i.id for i in items])
    err.print(f"posted {len(items)} new candidates", highlight=False)
