"""Wire schemas: what the API accepts and answers (``*In`` / ``*Out``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from usagelens.domain.changes import Changes
from usagelens.domain.ids import LOCATOR_MAX
from usagelens.domain.recommendations import Exclusion, Recommendation
from usagelens.domain.times import parse_moment
from usagelens.ports import RecommendationEvent

DimensionName = Literal["CPU", "RAM", "NetFlow"]


def _moment(value: object) -> object:
    """Read a written time as every other input does (naming the forms when it is none)."""
    return parse_moment(value) if isinstance(value, str) else value


Moment = Annotated[datetime, BeforeValidator(_moment)]
"""A time a person writes in a request body: the forms ``since`` takes (``FORMS``)."""


class IngestOut(BaseModel):
    """What storing one usage summary did."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "batch_id": 1,
                    "observations": 24000,
                    "inserted": 24000,
                    "updated": 0,
                    "duplicates": 0,
                    "teams": 4,
                    "resources": 40,
                }
            ]
        }
    )

    batch_id: int = Field(description="id of the audit row kept for this payload")
    observations: int = Field(description="observations in the payload")
    inserted: int = Field(description="observations with a new key")
    updated: int = Field(description="observations that replaced another value for their key")
    duplicates: int = Field(description="observations already stored with the same value")
    teams: int = Field(description="distinct teams in the payload")
    resources: int = Field(description="distinct (team, resource) pairs in the payload")


class PriceOriginOut(BaseModel):
    """One origin's list: a source's (its URL), ``manual`` (set by hand) or ``legacy``."""

    origin: str
    precedence: int = Field(
        description="1 wins over 2 and so on, per resource and dimension, in this server's "
        "configuration: the hand-set list, then USAGELENS_SOURCES last to first, then sources "
        "no longer configured (latest list first), then legacy"
    )
    updated_at: datetime | None = Field(None, description="when the list arrived (UTC)")
    resources: int = Field(description="resource ids the list prices")


class PricesOut(BaseModel):
    """A price list in the module's shape: the prices in force, or one origin's list."""

    currency: str
    values: dict[str, dict[DimensionName, float]] = Field(
        description="price of each dimension of each resource id",
        examples=[{"SZY1417": {"CPU": 120, "RAM": 80, "NetFlow": 30}}],
    )
    origin: str | None = Field(None, description="the origin shown; null: the prices in force")
    origins: list[PriceOriginOut] = Field(
        default_factory=list, description="every origin's list, the one that wins first"
    )


class PriceListIn(BaseModel):
    """One source's price list as it was fetched (``collect --url`` sends these)."""

    origin: str = Field(min_length=1, max_length=LOCATOR_MAX, description="the source's URL")
    fetched_at: datetime | None = Field(
        None, description="when it was fetched; a list older than the stored one is left out"
    )
    values: dict[str, dict[str, Any]] = Field(description="the module's price list values")


class PriceListsIn(BaseModel):
    """The price lists one pull fetched, stored together or not at all."""

    lists: list[PriceListIn] = Field(max_length=1000)


class PriceListsOut(BaseModel):
    """Which of the lists sent are now stored, and which were older than the stored ones."""

    stored: list[str]
    stale: list[str]


class WindowOut(BaseModel):
    """The time window a read covers: since inclusive, until exclusive; null: open."""

    since: datetime | None
    until: datetime | None


class EvidenceOut(BaseModel):
    """What a row's verdict rests on."""

    observations: int = Field(description="observations in the window read")
    first_seen: datetime | None = Field(description="the series' earliest stored observation")
    last_seen: datetime | None = Field(description="the series' latest stored observation")
    enough_data: bool = Field(description="at least the policy's min_observations")


class ResourceRowOut(BaseModel):
    """One analytics row: a team's resource dimension, its statistics and verdict."""

    team: str
    resource: str
    dimension: DimensionName
    count: int = Field(description="observations in the window")
    mean: float
    median: float
    usage_type: Literal["falling", "spiky", "stable"]
    intensity: Literal["low", "medium", "high", "extreme"]
    decision: Literal["delete", "keep", "extend"]
    reason: str = Field(examples=["median 12 ≤ 30: low intensity → delete"])
    cost: float | None = Field(description="this team's share of the price; null if unpriced")
    evidence: EvidenceOut = Field(description="what the verdict rests on")


class ResourcesOut(BaseModel):
    """A page of analytics rows."""

    window: WindowOut = Field(description="the window read")
    items: list[ResourceRowOut]
    total: int = Field(description="rows matching the filters, before limit and offset")
    limit: int
    offset: int


class ByDimensionOut(BaseModel):
    """An amount of money per dimension."""

    CPU: float = 0.0
    RAM: float = 0.0
    NetFlow: float = 0.0


class TeamDeletedOut(ByDimensionOut):
    """A team's money on what is to be deleted, per dimension and in total."""

    total: float = 0.0


class ResourceCostOut(BaseModel):
    """What one team's resource costs, in all and per priced dimension."""

    team: str
    resource: str
    total: float
    by_dimension: dict[DimensionName, float]


class CostsTotalOut(BaseModel):
    """Total cost overall, per team and per team resource."""

    currency: str
    total: float
    teams: dict[str, float]
    resources: list[ResourceCostOut]
    unpriced: list[str] = Field(description="resource ids with usage but no price")


class CostsDeletedOut(BaseModel):
    """Money spent on what is to be deleted."""

    currency: str
    total: float
    by_dimension: ByDimensionOut
    teams: dict[str, TeamDeletedOut]
    resources: list[ResourceCostOut]


class PullOut(BaseModel):
    """The outcome of one pull of a refresh."""

    source: str
    kind: Literal["usage", "prices"]
    branch: int | None
    ok: bool
    detail: str
    batch: IngestOut | None = None


class RefreshOut(BaseModel):
    """Every pull of a refresh with its outcome."""

    ok: int = Field(description="pulls that landed")
    failed: int = Field(description="pulls that failed")
    pulls: list[PullOut]


class RefreshStatusOut(BaseModel):
    """The last refresh (webhook or scheduled) and whether one is running."""

    schedule_seconds: float | None = Field(description="period of scheduled refreshes, if any")
    running: bool
    started_at: datetime | None
    finished_at: datetime | None
    ok: int
    failed: int
    pulls: list[dict[str, object]] = Field(description="each pull of the last refresh")


class StatusOut(BaseModel):
    """A liveness or readiness answer."""

    status: str


class ProblemOut(BaseModel):
    """An error as RFC 9457 problem details (``application/problem+json``)."""

    model_config = ConfigDict(extra="allow")  # an error may add members (RFC 9457 §3.2)

    type: str = Field(
        description="the kind of problem: `urn:usagelens:problem:<slug>`, or `about:blank`",
        examples=["urn:usagelens:problem:invalid-summary"],
    )
    title: str = Field(description="the HTTP status phrase", examples=["Unprocessable Entity"])
    status: int = Field(ge=400, le=599, description="the HTTP status, as answered")
    detail: str = Field(description="what is wrong, for a person to read")
    instance: str | None = Field(None, description="the path that was asked for")
    request_id: str | None = Field(None, description="the id of the request in the logs")


class PushEventIn(BaseModel):
    """A request another service answered (the push-to-pull bridge)."""

    status: int = Field(ge=100, le=599, description="HTTP status it answered with")
    endpoint: str = Field(min_length=1, max_length=200, description="its endpoint")
    time: float = Field(ge=0, description="duration in seconds")


class PushOut(BaseModel):
    """How many pushed events were counted."""

    accepted: int


Decision = Literal["delete", "keep", "extend"]


class DecisionCountsOut(BaseModel):
    """Rows per decision."""

    delete: int
    keep: int
    extend: int


class DeletedByDimensionOut(ByDimensionOut):
    """Money on what is to be deleted, by dimension and in all."""

    total: float


class DeletedChangeOut(BaseModel):
    """Money on what is to be deleted: now, under the candidate, and the difference."""

    before: DeletedByDimensionOut
    after: DeletedByDimensionOut
    change: DeletedByDimensionOut


class DecisionChangeOut(BaseModel):
    """One row the candidate policy decides otherwise."""

    team: str
    resource: str
    dimension: Literal["CPU", "RAM", "NetFlow"]
    before: Decision
    after: Decision
    reason: str = Field(description="why, under the candidate policy")
    cost: float | None = Field(description="the row's cost; null when unpriced")


class PolicyDiffOut(BaseModel):
    """What a candidate policy would change; nothing is stored."""

    currency: str
    rows: int
    changed: int
    decisions: dict[Literal["before", "after"], DecisionCountsOut]
    deleted_cost: DeletedChangeOut
    changes: list[DecisionChangeOut]


class SourcePositionIn(BaseModel):
    """How far a table source has now been read."""

    position: datetime = Field(
        description="newest collect_date taken (naive: UTC)", examples=["2026-11-19T13:00:00Z"]
    )


class SourcePositionOut(BaseModel):
    """How far a table source has been read, as the store keeps it."""

    source: str
    position: datetime | None = Field(description="newest collect_date taken; null: never read")


class PruneIn(BaseModel):
    """What to prune: an age (by the server's clock) or an exact cutoff; or only say."""

    model_config = ConfigDict(extra="forbid")

    older_than: str | None = Field(
        None, max_length=32, description="delete observations older than this (90d, 200h)"
    )
    before: Moment | None = Field(
        None, description="delete observations collected before this moment (UTC)"
    )
    dry_run: bool = Field(False, description="say what would be deleted; delete nothing")
    force: bool = Field(False, description="allow an age under an hour")


class PruneOut(BaseModel):
    """What a prune removed, or would remove (a dry run: no transactions)."""

    observations: int
    series: int = Field(description="distinct series that lost observations")
    transactions: int
    cutoff: datetime = Field(description="observations collected before this go")
    oldest: datetime | None = Field(description="when the oldest of them was collected")
    newest: datetime | None = Field(description="when the newest of them was collected")
    dry_run: bool


class RebuildOut(BaseModel):
    """What a rebuild recomputed, and under which policy."""

    series: int
    observations: int
    policy: str = Field(description="the fingerprint of the policy now in force")


class ImportPlanOut(BaseModel):
    """What an export holds, and whether this server's store would take it."""

    observations: int
    series: int
    price_lists: dict[str, int] = Field(description="resources priced, per origin")
    pushes: int = Field(description="pushed request events counted")
    store_empty: bool = Field(description="only an empty store takes an import")


StateName = Literal["active", "dismissed", "claimed", "succeeded", "failed", "excluded"]


class RecommendationOut(BaseModel):
    """A row to delete or extend, with its evidence and state."""

    id: str = Field(description="stable and opaque: the same for a series whatever happens")
    team: str
    resource: str
    dimension: DimensionName
    decision: Literal["delete", "extend"]
    state: StateName
    reason: str = Field(description="why the rules decided so")
    cost: float | None = Field(description="the team's share of the price; null: unpriced")
    evidence: EvidenceOut
    state_reason: str = Field(description="why it is in its state (a person's words, or why)")
    until: datetime | None = Field(description="when a snooze ends")
    by: str = Field(description="who set the state")
    changed_at: datetime | None = Field(description="when the state was set")
    actionable: bool = Field(description="active or claimed, with enough data")


class RecommendationsOut(BaseModel):
    """A page of recommendations."""

    window: WindowOut = Field(description="the window read")
    items: list[RecommendationOut]
    total: int
    limit: int
    offset: int


class HistoryEventOut(BaseModel):
    """One change: of the state, or of the series' decision."""

    at: datetime
    kind: Literal["state", "decision"]
    before: str | None = Field(alias="from")
    after: str = Field(alias="to")
    reason: str
    by: str

    model_config = ConfigDict(populate_by_name=True)


class RecommendationDetailOut(RecommendationOut):
    """A recommendation and every change of it, oldest first."""

    history: list[HistoryEventOut]


class StateIn(BaseModel):
    """Move a recommendation: dismiss (until: snooze), claim, reopen, done, failed."""

    model_config = ConfigDict(extra="forbid")

    state: Literal["active", "dismissed", "claimed", "succeeded", "failed"]
    reason: str = Field("", max_length=2000)
    until: Moment | None = Field(None, description="a dismissal's end: a snooze")
    by: str = Field("", max_length=200, description="who, for the history")


class ExclusionIn(BaseModel):
    """A rule that takes matching rows out of the actionable work (fnmatch globs; ``*``
    for any team or resource must be written out)."""

    model_config = ConfigDict(extra="forbid")

    team: str = Field(min_length=1, max_length=200, description="team glob, e.g. * or web-*")
    resource: str = Field(min_length=1, max_length=200, description="resource glob")
    dimension: DimensionName | None = None
    reason: str = Field("", max_length=2000)


class ExclusionOut(ExclusionIn):
    """A stored exclusion rule."""

    model_config = ConfigDict(extra="ignore")

    id: int


class RecommendationSummaryOut(BaseModel):
    """Money by state, and how many recommendations each state and decision holds."""

    currency: str
    money: dict[str, float] = Field(
        description="actionable, dismissed, excluded, claimed, realised (succeeded deletes)"
    )
    counts: dict[str, dict[str, int]] = Field(description="state → decision → how many")
    counts_enough_data: dict[str, dict[str, int]] = Field(
        description="state → decision → how many have enough data (the ones alerts count)"
    )


class DigestIn(BaseModel):
    """The recommendations a digest posted (so that the next one leaves them out)."""

    model_config = ConfigDict(extra="forbid")

    ids: list[str] = Field(max_length=100_000)


# Recommendations to their wire forms (the API, the local client and the digest) --------


def recommendation_out(item: Recommendation) -> RecommendationOut:
    """Map a recommendation to its wire form."""
    return RecommendationOut(**_fields(item))


def _fields(item: Recommendation) -> dict[str, object]:
    row, evidence = item.row, item.evidence
    return {
        "id": item.id,
        "team": row.team,
        "resource": row.resource,
        "dimension": row.dimension.value,
        "decision": row.decision.value,
        "state": item.state.value,
        "reason": row.reason,
        "cost": row.cost,
        "evidence": EvidenceOut(
            observations=evidence.observations,
            first_seen=evidence.first_seen,
            last_seen=evidence.last_seen,
            enough_data=evidence.enough_data,
        ),
        "state_reason": item.state_reason,
        "until": item.until,
        "by": item.by,
        "changed_at": item.changed_at,
        "actionable": item.actionable,
    }


def detail_out(item: Recommendation, history: list[RecommendationEvent]) -> RecommendationDetailOut:
    """Map a recommendation and its history to the wire form."""
    return RecommendationDetailOut(**_fields(item), history=[_event_out(e) for e in history])


def _event_out(event: RecommendationEvent) -> HistoryEventOut:
    return HistoryEventOut.model_validate(
        {"at": event.at, "kind": event.kind, "from": event.before, "to": event.after,
         "reason": event.reason, "by": event.by}
    )  # fmt: skip


def exclusion_out(rule: Exclusion) -> ExclusionOut:
    """Map an exclusion rule to its wire form."""
    dimension = None if rule.dimension is None else rule.dimension.value
    return ExclusionOut(
        id=rule.id, team=rule.team, resource=rule.resource, dimension=dimension,
        reason=rule.reason,
    )  # fmt: skip


class MoneyMoveOut(BaseModel):
    """The money on what is to be deleted at both ends."""

    before: float
    after: float
    change: float


class DecisionMoveOut(BaseModel):
    """A series whose decision moved."""

    team: str
    resource: str
    dimension: DimensionName
    kind: Literal["became_candidate", "stopped_candidate", "other"]
    before: str = Field(description="the decision then")
    after: str = Field(description="the decision now")
    reason_before: str
    reason_after: str
    cost_before: float | None
    cost_after: float | None
    when: datetime | None = Field(description="when the decision history recorded it, if it did")


class SeriesEndOut(BaseModel):
    """A series present at one end only."""

    team: str
    resource: str
    dimension: DimensionName
    decision: str
    cost: float | None


class ChangesOut(BaseModel):
    """What changed since a moment: decisions, new and vanished series, money to delete."""

    currency: str
    since: datetime = Field(description="the moment compared with now")
    window_before: WindowOut = Field(description="the window of the earlier end")
    window_after: WindowOut = Field(description="the window of now")
    decisions: list[DecisionMoveOut]
    new: list[SeriesEndOut]
    vanished: list[SeriesEndOut]
    deleted: MoneyMoveOut
    deleted_by_dimension: dict[str, MoneyMoveOut]
    teams: dict[str, MoneyMoveOut]


def changes_out(changes: Changes, currency: str) -> ChangesOut:
    """Build the answer of a Changes (domain.changes)."""

    def money(move: Any) -> MoneyMoveOut:
        return MoneyMoveOut(before=move.before, after=move.after, change=move.change)

    return ChangesOut(
        currency=currency,
        since=changes.since,
        window_before=WindowOut(
            since=changes.window_before.since, until=changes.window_before.until
        ),
        window_after=WindowOut(since=changes.window_after.since, until=changes.window_after.until),
        decisions=[
            DecisionMoveOut(
                team=c.team,
                resource=c.resource,
                dimension=c.dimension,
                kind=c.kind,
                before=c.before,
                after=c.after,
                reason_before=c.reason_before,
                reason_after=c.reason_after,
                cost_before=c.cost_before,
                cost_after=c.cost_after,
                when=c.when,
            )
            for c in changes.decisions
        ],
        new=[SeriesEndOut.model_validate(e, from_attributes=True) for e in changes.new],
        vanished=[SeriesEndOut.model_validate(e, from_attributes=True) for e in changes.vanished],
        deleted=money(changes.deleted),
        deleted_by_dimension={d: money(m) for d, m in changes.deleted_by_dimension.items()},
        teams={t: money(m) for t, m in changes.teams.items()},
    )
