"""The dashboard: HTML pages at ``/`` and under ``/ui`` (kept out of the OpenAPI schema)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from usagelens import __version__
from usagelens.api.deps import HandlersDep, QueriesDep, WindowDep
from usagelens.api.session import COOKIE
from usagelens.api.ui import pages, render
from usagelens.app import Queries
from usagelens.documents import dump_yaml
from usagelens.domain.analytics import SortKey
from usagelens.domain.changes import MoneyMove, SeriesEnd
from usagelens.domain.model import DIMENSIONS, Decision, Window
from usagelens.domain.money import format_money
from usagelens.domain.recommendations import State

router = APIRouter(include_in_schema=False)

COLUMNS = (
    ("team", "Team"), ("resource", "Resource"), ("dimension", "Dimension"),
    ("count", "Count"), ("mean", "Mean"), ("median", "Median"), ("usage_type", "Usage type"),
    ("intensity", "Intensity"), ("decision", "Decision"), ("cost", "Cost"),
)  # fmt: skip
NUMERIC = frozenset({"count", "mean", "median", "cost"})
POLICY_MAX_CHARS = 20_000
"""The longest candidate policy the what-if form takes (a full policy is ~400 characters)."""

DimensionFilter = Literal["", "CPU", "RAM", "NetFlow"]
DecisionFilter = Literal["", "delete", "keep", "extend"]
StateFilter = Literal["", "active", "dismissed", "claimed", "succeeded", "failed", "excluded"]


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, handlers: HandlersDep, window: WindowDep) -> HTMLResponse:
    """Show total money, money to delete, decisions, money per team and the last refresh."""
    queries = handlers.queries
    return _page(
        request,
        queries,
        window,
        "overview.html",
        active="overview",
        o=pages.overview(queries, window),
        states=pages.state_counts(handlers.recommendations, window),
        refresh=handlers.refresh.status(),
        week=_last_week(queries),
        contacts=queries.contacts,
        refresh_url=str(request.url_for("refresh")),
    )


@dataclass(frozen=True, slots=True)
class _Week:
    """The overview's "since last week" panel: the money to delete and what moved."""

    deleted: MoneyMove
    became: int
    stopped: int
    new: list[SeriesEnd]
    vanished: list[SeriesEnd]


def _last_week(queries: Queries) -> _Week | None:
    """Compare now with a week ago (from the whole hour, so that the earlier end's view is
    computed once an hour, not once a minute); None when nothing is stored from then."""
    hour = queries.clock().replace(minute=0, second=0, microsecond=0)
    found = queries.changes(hour - timedelta(days=7))
    if found.rows_before == 0:
        return None
    kinds = [c.kind for c in found.decisions]
    return _Week(
        found.deleted,
        kinds.count("became_candidate"),
        kinds.count("stopped_candidate"),
        found.new,
        found.vanished,
    )


@router.get("/ui/rows", response_class=HTMLResponse)
def rows(
    request: Request,
    handlers: HandlersDep,
    window: WindowDep,
    team: str = "",
    dimension: DimensionFilter = "",
    decision: DecisionFilter = "",
    state: StateFilter = "",
    q: str = "",
    sort: SortKey = "team",
    order: Literal["asc", "desc"] = "asc",
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=pages.MAX_PAGE_SIZE)] = pages.PAGE_SIZE,
) -> HTMLResponse:
    """Show one page of the decisions and their recommendations' states, filtered and
    sorted on the server."""
    queries = handlers.queries
    query = pages.RowQuery(
        team, dimension, decision, q.strip(), sort, order, offset, limit, state=state
    )
    return _page(
        request,
        queries,
        window,
        "rows.html",
        active="rows",
        query=query,
        page=pages.row_page(queries, handlers.recommendations, window, query),
        columns=COLUMNS,
        numeric=NUMERIC,
        dimensions=[d.value for d in DIMENSIONS],
        decisions=[d.value for d in Decision],
        states=[s.value for s in State],
    )


@router.get("/ui/resource", response_class=HTMLResponse)
def resource(
    request: Request, handlers: HandlersDep, window: WindowDep, team: str, resource: str
) -> HTMLResponse:
    """Show a team's resource: per dimension its histogram, usage over time, cost, sharers,
    and its recommendations' states with a form that moves them."""
    queries = handlers.queries
    page = pages.resource_page(queries, handlers.recommendations, window, team, resource)
    if page is None:
        return _page(
            request,
            queries,
            window,
            "missing.html",
            status=404,
            message=f"The team {team!r} has no resource {resource!r} in this window.",
        )
    return _page(
        request,
        queries,
        window,
        "resource.html",
        active="rows",
        p=page,
        api_base=str(request.base_url).rstrip("/"),
    )


@router.get("/ui/policy", response_class=HTMLResponse)
def policy(
    request: Request,
    queries: QueriesDep,
    window: WindowDep,
    candidate: Annotated[str, Query(max_length=POLICY_MAX_CHARS)] = "",
) -> HTMLResponse:
    """Show the policy in force and what a candidate typed into the form would change."""
    current = dump_yaml(queries.guard.current().to_document())
    preview = pages.policy_preview(queries, window, candidate) if candidate.strip() else None
    return _page(
        request,
        queries,
        window,
        "policy.html",
        status=422 if preview is not None and preview.error else 200,
        active="policy",
        current=current,
        candidate=candidate if candidate.strip() else current,
        preview=preview,
    )


def _page(
    request: Request,
    queries: Queries,
    window: Window,
    template: str,
    *,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a page with what every page shows: navigation, money format, the window."""
    window = queries.resolve(window)
    params = {k: v for k, v in request.query_params.items() if k in ("since", "until")}
    currency = queries.currency

    def link(**changes: object) -> str:
        merged: dict[str, object] = {**request.query_params, **changes}
        return "?" + urlencode({k: v for k, v in merged.items() if v not in ("", None)})

    def resource_link(team: str, resource: str) -> str:
        return "/ui/resource?" + urlencode({"team": team, "resource": resource, **params})

    html = render(
        template,
        signed_in=COOKIE in request.cookies,
        version=__version__,
        currency=currency,
        data_version=queries.data_version(),
        window_label=_window_label(window),
        window_params=params,
        money=lambda amount: pages.money(amount, currency),
        signed_money=lambda amount: format_money(amount, signed=True),
        when=_when,
        link=link,
        resource_link=resource_link,
        **context,
    )
    return HTMLResponse(html, status_code=status)


def _when(moment: datetime | None) -> str:
    return "—" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _window_label(window: Window) -> str:
    if window.since is None and window.until is None:
        return "all stored data"
    since = "the start" if window.since is None else _when(window.since)
    until = "now" if window.until is None else _when(window.until)
    return f"from {since} until {until}"
