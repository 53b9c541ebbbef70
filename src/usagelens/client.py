"""One client for every command: the local store (the handlers) or a server (its API).

Each CLI command is written once against ``Client``; ``--url`` only picks the
implementation. Both speak the same values (``IngestResult``, ``Report``, ``PruneResult``…)
and raise the same errors: the HTTP client maps every answer and network failure once
(``HttpClient._send``), as httpx's one error tree does::

    network error, timeout              StorageUnavailable   ("cannot reach URL")
    401, 403                            NotConfigured        (set USAGELENS_API_TOKEN)
    404                                 NotFound
    409                                 NotConfigured        (a policy or lease conflict)
    other 4xx                           InvalidInput         (the server's detail)
    502                                 SourceUnavailable
    503                                 StorageUnavailable
    other 5xx, a garbled answer         StorageError
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from usagelens.api.schemas import (
    ChangesOut,
    ExclusionIn,
    ExclusionOut,
    RecommendationDetailOut,
    RecommendationOut,
    RecommendationSummaryOut,
    changes_out,
    detail_out,
    exclusion_out,
    recommendation_out,
)
from usagelens.app import (
    Filters,
    Handlers,
    ImportPlan,
    PayloadReader,
    PruneResult,
    RebuildResult,
    Recommendations,
)
from usagelens.app.refresh import StoreTarget
from usagelens.documents import load_document
from usagelens.domain.batch import UsageBatch
from usagelens.domain.errors import (
    IllegalMove,
    InvalidInput,
    NotConfigured,
    NotFound,
    SourceUnavailable,
    StorageError,
    StorageUnavailable,
)
from usagelens.domain.model import Dimension, IngestResult, Window
from usagelens.domain.policy import Policy, policy_from_document
from usagelens.domain.prices import OriginPrices, PriceList, price_list_from_document
from usagelens.domain.recommendations import State
from usagelens.domain.report import Report, report_from_json
from usagelens.domain.summary import render_batch
from usagelens.domain.times import as_utc

READ_SIZE = 1 << 20
"""Bytes read from a file at a time (parsed or sent as they are read)."""


@dataclass(frozen=True, slots=True)
class PricesAnswer:
    """The prices in force (or one origin's list), and every origin's list by size."""

    prices: PriceList
    lists: list[tuple[str, int]]
    """(origin, resources priced), the list that wins first."""


class Client(Protocol):
    """What the commands need of a store, wherever it is (also a pull's target)."""

    where: str
    """The store or server, for messages (a password masked)."""

    def ingest_file(
        self, path: Path, *, source: str, json_form: bool, advance: Callable[[int], None]
    ) -> IngestResult:
        """Store one file as one batch, reading it in chunks; ``advance`` sees the bytes."""
        ...

    def ingest_summary(self, payload: bytes, *, source: str) -> IngestResult: ...

    def ingest_batch(self, batch: UsageBatch, *, source: str, clamped: int = 0) -> IngestResult: ...

    def store_source_prices(self, lists: Sequence[OriginPrices]) -> list[str]: ...

    def source_position(self, source: str) -> datetime | None: ...

    def set_source_position(self, source: str, position: datetime) -> None: ...

    def prices(self, origin: str | None = None) -> PricesAnswer:
        """Return the prices in force, or one origin's list."""
        ...

    def replace_prices(self, payload: bytes) -> PricesAnswer:
        """Make a price list (YAML or JSON) the hand-set list; return the prices in force."""
        ...

    def drop_prices(self, origin: str) -> PricesAnswer:
        """Forget one origin's list (NotFound if none); return the prices in force."""
        ...

    def report(self, window: Window, teams: Sequence[str] = ()) -> Report:
        """Return the full report of a window (of some teams: NotFound for one not stored)."""
        ...

    def focus_export(self, window: Window, teams: Sequence[str] = ()) -> Iterator[str]:
        """Yield a window's costs (of some teams) as FOCUS 1.2 CSV, chunk by chunk."""
        ...

    def policy_diff(self, candidate: bytes, window: Window) -> dict[str, Any]:
        """Say what a candidate policy document would change (the preview's document)."""
        ...

    def policy(self) -> dict[str, Any]:
        """Return the policy in force: its document, fingerprint and source."""
        ...

    def changes(self, since: datetime, teams: Sequence[str] = ()) -> ChangesOut:
        """Return what changed since a moment (of some teams)."""
        ...

    def prune_plan(self, older_than: timedelta) -> PruneResult:
        """Say what a prune of this age would delete now (by the store's clock)."""
        ...

    def prune_before(
        self, cutoff: datetime, progress: Callable[[int], None] | None = None
    ) -> PruneResult:
        """Delete the observations collected before ``cutoff`` (``progress``: a local count)."""
        ...

    def rebuild(self, policy: Policy) -> RebuildResult:
        """Recompute everything (locally under ``policy``; a server under its own)."""
        ...

    def export(self) -> dict[str, object]:
        """Return everything stored as one document."""
        ...

    def import_plan(self, document: object) -> ImportPlan:
        """Say what an export holds and whether the store would take it."""
        ...

    def import_(self, document: object) -> IngestResult:
        """Restore an export into an empty store."""
        ...

    @property
    def recommendations(self) -> RecommendationsClient:
        """The recommendations: list, show, move, summarise, exclude, digest."""
        ...


class RecommendationsClient(Protocol):
    """What the recommendations commands need, wherever the store is."""

    def items(self, window: Window, filters: Filters) -> list[RecommendationOut]:
        """Return the recommendations that pass the filters."""
        ...

    def show(self, rec_id: str) -> RecommendationDetailOut:
        """Return one recommendation and its history (NotFound if none)."""
        ...

    def move(self, rec_id: str, state: State, *, reason: str, until: datetime | None,
             by: str) -> RecommendationOut:  # fmt: skip
        """Move a recommendation to another state (IllegalMove naming the allowed ones)."""
        ...

    def summary(self, window: Window, teams: Sequence[str] = ()) -> RecommendationSummaryOut:
        """Return the money by state and the counts (of some teams)."""
        ...

    def exclusions(self) -> list[ExclusionOut]:
        """Return the exclusion rules."""
        ...

    def exclude(self, rule: ExclusionIn) -> ExclusionOut:
        """Add an exclusion rule."""
        ...

    def drop_exclusion(self, rule_id: int) -> None:
        """Remove an exclusion rule (NotFound if none)."""
        ...

    def digest_candidates(self) -> list[RecommendationOut]:
        """Return the new delete candidates no digest has posted."""
        ...

    def mark_digested(self, ids: Sequence[str]) -> None:
        """Remember that a digest posted these."""
        ...


class LocalClient(StoreTarget):
    """The local store, through the use-case handlers."""

    def __init__(self, handlers: Handlers, where: str) -> None:
        super().__init__(handlers.refresh)
        self.handlers = handlers
        self.where = where

    def ingest_file(
        self, path: Path, *, source: str, json_form: bool, advance: Callable[[int], None]
    ) -> IngestResult:
        """Parse a file as it is read (bounded memory) and store it in one transaction."""
        ingest = self.handlers.ingest
        reader = PayloadReader(json_form)
        try:
            with path.open("rb") as file:
                while chunk := file.read(READ_SIZE):
                    reader.feed(chunk)
                    advance(len(chunk))
        except InvalidInput:
            ingest.count_rejected("batches_rejected")
            raise
        return ingest.ingest_read(reader, source=source)

    def prices(self, origin: str | None = None) -> PricesAnswer:
        """Return the prices in force, or one origin's list."""
        return self._answer(self.handlers.prices.prices(origin))

    def replace_prices(self, payload: bytes) -> PricesAnswer:
        """Make a price list the hand-set list."""
        self.handlers.prices.replace_prices(payload)
        return self._answer(self.handlers.prices.prices())

    def drop_prices(self, origin: str) -> PricesAnswer:
        """Forget one origin's list."""
        if not self.handlers.prices.drop_prices(origin):
            raise NotFound(f"no price list of origin {origin!r} is stored")
        return self._answer(self.handlers.prices.prices())

    def _answer(self, prices: PriceList) -> PricesAnswer:
        lists = self.handlers.prices.price_lists()
        return PricesAnswer(prices, [(e.origin, len(e.prices.values)) for e in lists])

    def report(self, window: Window, teams: Sequence[str] = ()) -> Report:
        """Return the full report of a window (of some teams)."""
        return self.handlers.queries.report(window, teams)

    def focus_export(self, window: Window, teams: Sequence[str] = ()) -> Iterator[str]:
        """Render the window's FOCUS export (of some teams) as it is written out."""
        return self.handlers.queries.focus_export(window, teams).chunks()

    def policy(self) -> dict[str, Any]:
        """Return the policy in force (the configured one, else the store's)."""
        return self.handlers.policy.describe()

    def changes(self, since: datetime, teams: Sequence[str] = ()) -> ChangesOut:
        """Compare now with a moment (of some teams)."""
        queries = self.handlers.queries
        return changes_out(queries.changes(since, teams), queries.currency)

    def policy_diff(self, candidate: bytes, window: Window) -> dict[str, Any]:
        """Say what a candidate policy would change."""
        policy = policy_from_document(load_document(candidate, what="policy"))
        queries = self.handlers.queries
        return queries.policy_diff(policy, window).to_document(queries.currency)

    def prune_plan(self, older_than: timedelta) -> PruneResult:
        """Say what a prune would delete."""
        return self.handlers.maintenance.prune_plan(older_than)

    def prune_before(
        self, cutoff: datetime, progress: Callable[[int], None] | None = None
    ) -> PruneResult:
        """Delete old observations."""
        return self.handlers.maintenance.prune_before(cutoff, progress)

    def rebuild(self, policy: Policy) -> RebuildResult:
        """Recompute everything under ``policy``."""
        return self.handlers.maintenance.rebuild(policy)

    def export(self) -> dict[str, object]:
        """Return everything stored."""
        return self.handlers.maintenance.export()

    def import_plan(self, document: object) -> ImportPlan:
        """Say what an export holds."""
        return self.handlers.maintenance.import_plan(document)

    def import_(self, document: object) -> IngestResult:
        """Restore an export."""
        return self.handlers.maintenance.import_(document)

    @property
    def recommendations(self) -> LocalRecommendations:
        """The recommendations, through their handler."""
        return LocalRecommendations(self.handlers.recommendations)


class LocalRecommendations:
    """The local store's recommendations, through the handler."""

    def __init__(self, handler: Recommendations) -> None:
        self.handler = handler

    def items(self, window: Window, filters: Filters) -> list[RecommendationOut]:
        """Return the recommendations that pass the filters."""
        items = self.handler.items(window, filters)
        return [recommendation_out(i) for i in items]

    def show(self, rec_id: str) -> RecommendationDetailOut:
        """Return one recommendation and its history."""
        item, history = self.handler.get(rec_id)
        return detail_out(item, history)

    def move(self, rec_id: str, state: State, *, reason: str, until: datetime | None,
             by: str) -> RecommendationOut:  # fmt: skip
        """Move a recommendation to another state."""
        moved = self.handler.move(rec_id, state, reason=reason, until=until, by=by)
        return recommendation_out(moved)

    def summary(self, window: Window, teams: Sequence[str] = ()) -> RecommendationSummaryOut:
        """Return the money by state and the counts (of some teams)."""
        return RecommendationSummaryOut.model_validate(self.handler.summary(window, teams))

    def exclusions(self) -> list[ExclusionOut]:
        """Return the exclusion rules."""
        return [exclusion_out(r) for r in self.handler.exclusions()]

    def exclude(self, rule: ExclusionIn) -> ExclusionOut:
        """Add an exclusion rule."""
        dimension = None if rule.dimension is None else Dimension(rule.dimension)
        added = self.handler.exclude(rule.team, rule.resource, dimension, rule.reason)
        return exclusion_out(added)

    def drop_exclusion(self, rule_id: int) -> None:
        """Remove an exclusion rule."""
        self.handler.drop_exclusion(rule_id)

    def digest_candidates(self) -> list[RecommendationOut]:
        """Return the new delete candidates."""
        return [recommendation_out(i) for i in self.handler.new_candidates()]

    def mark_digested(self, ids: Sequence[str]) -> None:
        """Remember that a digest posted these."""
        wanted = set(ids)
        self.handler.mark_digested([i for i in self.handler.new_candidates() if i.id in wanted])


class HttpClient:
    """A running server, through its API, with the configured token.

    ``transport`` is httpx's: tests pass ``httpx.ASGITransport`` (or a real server's URL
    with none). Every failure is one of the domain's errors (see the module docstring).
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 600.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.where = url.rstrip("/")
        headers = {"X-Auth-Token": token} if token else {}
        self._http = httpx.Client(
            base_url=self.where, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # Ingest and pulls ----------------------------------------------------------------

    def ingest_file(
        self, path: Path, *, source: str, json_form: bool, advance: Callable[[int], None]
    ) -> IngestResult:
        """Stream a file to the server's ingest endpoint as it is read."""

        def chunks() -> Iterator[bytes]:
            with path.open("rb") as file:
                while chunk := file.read(READ_SIZE):
                    advance(len(chunk))
                    yield chunk

        size = path.stat().st_size  # a missing file fails here, before anything is sent
        content_type = "application/json" if json_form else "text/plain; charset=utf-8"
        headers = {"Content-Type": content_type, "Content-Length": str(size)}
        answer = self._send(
            "POST", "/api/v1/usage", content=chunks(), params={"source": source}, headers=headers
        )
        return _ingest_result(answer)

    def ingest_summary(self, payload: bytes, *, source: str) -> IngestResult:
        """POST a summary as text."""
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        answer = self._send(
            "POST", "/api/v1/usage", content=payload, params={"source": source}, headers=headers
        )
        return _ingest_result(answer)

    def ingest_batch(self, batch: UsageBatch, *, source: str, clamped: int = 0) -> IngestResult:
        """POST readings in the text format (the server's fastest parse), and how many
        were clamped, to be counted."""
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        params: dict[str, str | int] = {"source": source}
        if clamped:
            params["clamped"] = clamped
        body = render_batch(batch).encode()
        answer = self._send("POST", "/api/v1/usage", content=body, params=params, headers=headers)
        return _ingest_result(answer)

    def store_source_prices(self, lists: Sequence[OriginPrices]) -> list[str]:
        """PUT every answering source's list in one request: stored together or not at all."""
        body = {
            "lists": [
                {
                    "origin": entry.origin,
                    "fetched_at": entry.updated_at.isoformat() if entry.updated_at else None,
                    **entry.prices.to_document(),
                }
                for entry in lists
            ]
        }
        answer = self._send("PUT", "/api/v1/prices/sources", json=body)
        return [str(origin) for origin in answer.get("stored", [])]

    def source_position(self, source: str) -> datetime | None:
        """GET how far the server has a table source read (None: never)."""
        answer = self._send("GET", "/api/v1/sources/position", params={"source": source})
        return _moment(answer.get("position"), "position")

    def set_source_position(self, source: str, position: datetime) -> None:
        """PUT a table source's new position on the server (it never moves back)."""
        self._send(
            "PUT",
            "/api/v1/sources/position",
            params={"source": source},
            json={"position": position.isoformat()},
        )

    # Prices and reads ----------------------------------------------------------------

    def prices(self, origin: str | None = None) -> PricesAnswer:
        """GET the prices in force, or one origin's list."""
        params = {"origin": origin} if origin is not None else {}
        return _prices_answer(self._send("GET", "/api/v1/prices", params=params))

    def replace_prices(self, payload: bytes) -> PricesAnswer:
        """PUT the hand-set list; answer the prices in force."""
        self._send("PUT", "/api/v1/prices", content=payload)
        return self.prices()

    def drop_prices(self, origin: str) -> PricesAnswer:
        """DELETE one origin's list."""
        answer = self._send("DELETE", "/api/v1/prices", params={"origin": origin})
        return _prices_answer(answer)

    def report(self, window: Window, teams: Sequence[str] = ()) -> Report:
        """GET the report (of some teams) as JSON and rebuild it."""
        params = {"format": "json", **_window_params(window), **_team_params(teams)}
        return report_from_json(self._send("GET", "/api/v1/report", params=params))

    def focus_export(self, window: Window, teams: Sequence[str] = ()) -> Iterator[str]:
        """GET the FOCUS export (of some teams), passing its text on as it arrives."""
        params = {**_window_params(window), **_team_params(teams)}
        try:
            with self._http.stream("GET", "/api/v1/export/focus", params=params) as response:
                if not response.is_success:
                    response.read()
                    raise _error(response, self.where)
                yield from response.iter_text()
        except httpx.HTTPError as exc:
            raise StorageUnavailable(f"cannot reach {self.where}: {exc}") from exc

    def policy(self) -> dict[str, Any]:
        """GET the policy in force."""
        return self._send("GET", "/api/v1/policy")

    def changes(self, since: datetime, teams: Sequence[str] = ()) -> ChangesOut:
        """GET what changed since a moment (of some teams)."""
        params = {"since": since.isoformat(), **_team_params(teams)}
        return ChangesOut.model_validate(self._send("GET", "/api/v1/changes", params=params))

    def policy_diff(self, candidate: bytes, window: Window) -> dict[str, Any]:
        """POST the candidate to the preview."""
        return self._send(
            "POST", "/api/v1/policy/preview", content=candidate, params=_window_params(window)
        )

    # Maintenance ---------------------------------------------------------------------

    def prune_plan(self, older_than: timedelta) -> PruneResult:
        """Ask the server what a prune of this age would delete (by its clock)."""
        body = {"older_than": f"{int(older_than.total_seconds())}s", "dry_run": True}
        return _prune_result(self._send("POST", "/api/v1/prune", json=body))

    def prune_before(
        self, cutoff: datetime, progress: Callable[[int], None] | None = None
    ) -> PruneResult:
        """Have the server delete what was collected before ``cutoff`` (in one request)."""
        body = {"before": cutoff.isoformat(), "force": True}  # the age was checked here
        return _prune_result(self._send("POST", "/api/v1/prune", json=body))

    def rebuild(self, policy: Policy) -> RebuildResult:
        """Have the server recompute everything under its own configured policy."""
        answer = self._send("POST", "/api/v1/rebuild")
        return RebuildResult(int(answer["series"]), int(answer["observations"]), answer["policy"])

    def export(self) -> dict[str, object]:
        """GET everything stored."""
        return self._send("GET", "/api/v1/export")

    def import_plan(self, document: object) -> ImportPlan:
        """Ask the server what an import of this document would do."""
        answer = self._send("POST", "/api/v1/import", params={"dry_run": "true"}, json=document)
        return ImportPlan(
            int(answer["observations"]),
            int(answer["series"]),
            {str(k): int(v) for k, v in answer["price_lists"].items()},
            int(answer["pushes"]),
            bool(answer["store_empty"]),
        )

    def import_(self, document: object) -> IngestResult:
        """POST an export for the server to restore."""
        return _ingest_result(self._send("POST", "/api/v1/import", json=document))

    @property
    def recommendations(self) -> HttpRecommendations:
        """The server's recommendations, through this client's connections."""
        return HttpRecommendations(self._send)

    # The one place answers become values or errors -----------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise StorageUnavailable(f"cannot reach {self.where}: {exc}") from exc
        if response.status_code == 204:
            return {}
        if response.is_success:
            try:
                body: dict[str, Any] = response.json()
            except ValueError:
                raise StorageError(f"{self.where} answered {path} with no JSON") from None
            return body
        raise _error(response, self.where)


class HttpRecommendations:
    """A server's recommendations, through its API (errors mapped by HttpClient._send)."""

    def __init__(self, send: Callable[..., dict[str, Any]]) -> None:
        self._send = send

    def items(self, window: Window, filters: Filters) -> list[RecommendationOut]:
        """GET every page of the filtered recommendations."""
        params: dict[str, str | int | list[str]] = {**_window_params(window), "limit": 10000}
        for name, value in (("state", filters.state), ("decision", filters.decision),
                            ("dimension", filters.dimension), ("q", filters.text)):  # fmt: skip
            if value is not None:
                params[name] = str(value)
        params.update(_team_params(filters.teams or ()))
        items: list[RecommendationOut] = []
        while True:
            answer = self._send(
                "GET", "/api/v1/recommendations", params={**params, "offset": len(items)}
            )
            items += [RecommendationOut.model_validate(i) for i in answer["items"]]
            if not answer["items"] or len(items) >= int(answer["total"]):
                return items

    def show(self, rec_id: str) -> RecommendationDetailOut:
        """GET one recommendation and its history."""
        answer = self._send("GET", f"/api/v1/recommendations/{quote(rec_id, safe='')}")
        return RecommendationDetailOut.model_validate(answer)

    def move(self, rec_id: str, state: State, *, reason: str, until: datetime | None,
             by: str) -> RecommendationOut:  # fmt: skip
        """POST the move."""
        body = {"state": state.value, "reason": reason, "by": by,
                "until": None if until is None else until.isoformat()}  # fmt: skip
        path = f"/api/v1/recommendations/{quote(rec_id, safe='')}/state"
        return RecommendationOut.model_validate(self._send("POST", path, json=body))

    def summary(self, window: Window, teams: Sequence[str] = ()) -> RecommendationSummaryOut:
        """GET the money by state (of some teams)."""
        params = {**_window_params(window), **_team_params(teams)}
        answer = self._send("GET", "/api/v1/recommendations/summary", params=params)
        return RecommendationSummaryOut.model_validate(answer)

    def exclusions(self) -> list[ExclusionOut]:
        """GET the exclusion rules."""
        answer: Any = self._send("GET", "/api/v1/recommendations/exclusions")
        return [ExclusionOut.model_validate(rule) for rule in answer]

    def exclude(self, rule: ExclusionIn) -> ExclusionOut:
        """POST an exclusion rule."""
        answer = self._send("POST", "/api/v1/recommendations/exclusions", json=rule.model_dump())
        return ExclusionOut.model_validate(answer)

    def drop_exclusion(self, rule_id: int) -> None:
        """DELETE an exclusion rule."""
        self._send("DELETE", f"/api/v1/recommendations/exclusions/{rule_id}")

    def digest_candidates(self) -> list[RecommendationOut]:
        """GET the new delete candidates."""
        answer = self._send("GET", "/api/v1/recommendations/digest")
        return [RecommendationOut.model_validate(i) for i in answer["items"]]

    def mark_digested(self, ids: Sequence[str]) -> None:
        """POST the ids a digest posted."""
        self._send("POST", "/api/v1/recommendations/digest", json={"ids": list(ids)})


def _error(response: httpx.Response, where: str) -> Exception:
    """Map a failed answer to the domain's error, carrying the server's detail."""
    try:
        detail = str(response.json().get("detail", response.text))
    except (ValueError, AttributeError):
        detail = response.text.strip()[:200]
    status = response.status_code
    said = f"{where} answered {status}: {detail}"
    if status in {401, 403}:
        return NotConfigured(
            f"{said} (set USAGELENS_API_TOKEN, or USAGELENS_API_TOKEN_FILE, to the server's token)"
        )
    if status == 404:
        return NotFound(said)
    if status == 409:
        if "illegal-move" in response.text:
            return IllegalMove(said)
        return NotConfigured(said)
    if 400 <= status < 500:
        return InvalidInput(said)
    if status == 502:
        return SourceUnavailable(said, url=where)
    if status == 503:
        return StorageUnavailable(said)
    return StorageError(said)


def _window_params(window: Window) -> dict[str, str]:
    params = {}
    if window.since is not None:
        params["since"] = window.since.isoformat()
    if window.until is not None:
        params["until"] = window.until.isoformat()
    return params


def _team_params(teams: Iterable[str]) -> dict[str, list[str]]:
    """Return the repeated ``team`` parameter of a read about some teams (none: every team)."""
    names = sorted(set(teams))
    return {"team": names} if names else {}


def _moment(value: object, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        return as_utc(datetime.fromisoformat(str(value)))
    except ValueError:
        raise StorageError(f"the server answered a {what} that is not a time: {value!r}") from None


def _ingest_result(answer: dict[str, Any]) -> IngestResult:
    try:
        return IngestResult(**{name: int(answer[name]) for name in IngestResult.__slots__})
    except (KeyError, TypeError, ValueError):
        raise StorageError(f"the server answered no ingest result: {answer!r:.200}") from None


def _prune_result(answer: dict[str, Any]) -> PruneResult:
    cutoff = _moment(answer["cutoff"], "cutoff")
    assert cutoff is not None
    return PruneResult(
        int(answer["observations"]),
        int(answer["series"]),
        int(answer["transactions"]),
        cutoff,
        _moment(answer.get("oldest"), "time"),
        _moment(answer.get("newest"), "time"),
    )


def _prices_answer(answer: dict[str, Any]) -> PricesAnswer:
    prices = price_list_from_document({"values": answer.get("values") or {}})
    lists = [(str(o["origin"]), int(o["resources"])) for o in answer.get("origins", [])]
    return PricesAnswer(prices, lists)


__all__ = [
    "Client",
    "HttpClient",
    "HttpRecommendations",
    "LocalClient",
    "LocalRecommendations",
    "PricesAnswer",
    "RecommendationsClient",
]
