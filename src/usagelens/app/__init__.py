"""Use-case handlers, one module each, over a unit-of-work factory (cosmicpython's service layer).

::

    policy        PolicyGuard    which policy verdicts are made under; may a write go on
    ingest        Ingest         payloads in, one batch each, re-sends spotted
    prices        Prices         origins' price lists; the prices in force when read
    queries       Queries        the read model: views, money, reports, what-ifs (cached)
    pushes        Pushes         pushed request events counted
    maintenance   Maintenance    prepare, rebuild, prune, export, import
    refresh       Refresh        pulls under the store's lease; table positions
    recommendations Recommendations  states, evidence, history, exclusions, digests

``build`` wires them for one store; the API's routers and the CLI call the handler they
need. Nothing else holds them together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from usagelens.app.ingest import Ingest, PayloadReader
from usagelens.app.maintenance import ImportPlan, Maintenance, PruneResult, RebuildResult
from usagelens.app.policy import PolicyGuard
from usagelens.app.prices import Prices
from usagelens.app.pushes import Pushes
from usagelens.app.queries import DataView, MetricsState, Queries
from usagelens.app.recommendations import Filters, Recommendations
from usagelens.app.refresh import Refresh, StoreTarget
from usagelens.domain.focus import FocusAccount
from usagelens.domain.policy import Policy
from usagelens.domain.push import DEFAULT_LATENCY_BOUNDS
from usagelens.domain.recommendations import Lifecycle
from usagelens.domain.report import TeamContact
from usagelens.domain.times import utc_now
from usagelens.ports import Clock, Store


@dataclass(frozen=True)
class Handlers:
    """The use cases of one store, wired together (a composition, not a service object)."""

    store: Store
    policy: PolicyGuard
    ingest: Ingest
    prices: Prices
    queries: Queries
    pushes: Pushes
    maintenance: Maintenance
    refresh: Refresh
    recommendations: Recommendations


def build(
    store: Store,
    *,
    policy: Policy | None = None,
    currency: str = "RUB",
    clock: Clock = utc_now,
    window: timedelta | None = None,
    source_order: Sequence[str] = (),
    latency_bounds: Sequence[float] = DEFAULT_LATENCY_BOUNDS,
    max_endpoints: int = 100,
    lifecycle: Lifecycle | None = None,
    focus: FocusAccount | None = None,
    contacts: Mapping[str, TeamContact] | None = None,
) -> Handlers:
    """Wire every handler on one store.

    ``policy`` is the policy this process was configured with (None: follow the stored
    one); ``window`` the rolling window of reads that name none; ``source_order`` the
    configured sources, whose order decides which price list wins; ``focus`` who bills
    in the FOCUS export.
    """
    guard = PolicyGuard(store, policy)
    ingest = Ingest(store, guard, clock)
    prices = Prices(store, guard, clock, source_order)
    queries = Queries(
        store,
        guard,
        clock,
        currency=currency,
        window=window,
        source_order=source_order,
        focus=focus or FocusAccount(),
        contacts=contacts,
    )
    return Handlers(
        store=store,
        policy=guard,
        ingest=ingest,
        prices=prices,
        queries=queries,
        pushes=Pushes(store, latency_bounds=latency_bounds, max_endpoints=max_endpoints),
        maintenance=Maintenance(store, guard, clock, ingest=ingest, prices=prices, queries=queries),
        refresh=Refresh(store, ingest=ingest, prices=prices),
        recommendations=Recommendations(store, guard, clock, queries, lifecycle),
    )


__all__ = [
    "DataView",
    "Filters",
    "Handlers",
    "ImportPlan",
    "Ingest",
    "Maintenance",
    "MetricsState",
    "PayloadReader",
    "PolicyGuard",
    "Prices",
    "PruneResult",
    "Pushes",
    "Queries",
    "RebuildResult",
    "Recommendations",
    "Refresh",
    "StoreTarget",
    "build",
]
