"""Recommendations in SQL: the states people set, their history, exclusions, digests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select, update

from usagelens.domain.model import Dimension
from usagelens.domain.recommendations import StoredState
from usagelens.domain.times import naive_utc
from usagelens.ports import RecommendationEvent
from usagelens.storage.tables import (
    digest_sent,
    exclusions,
    recommendation_events,
    recommendation_states,
    series,
)


class SqlRecommendations:
    """Write what people and time did to recommendations, in the unit of work's transaction."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def set_state(self, series_id: int, state: StoredState) -> None:
        """Store the state set for a series' recommendation (replacing one before)."""
        self.clear_state(series_id)
        self._conn.execute(
            insert(recommendation_states).values(
                series_id=series_id,
                decision=state.decision.value,
                state=state.state.value,
                reason=state.reason,
                until=None if state.until is None else naive_utc(state.until),
                by=state.by,
                changed_at=naive_utc(state.changed_at),
            )
        )

    def clear_state(self, series_id: int) -> None:
        """Forget a series' stored state."""
        table = recommendation_states
        self._conn.execute(delete(table).where(table.c.series_id == series_id))

    def add_events(self, events: Sequence[RecommendationEvent], *, keep: int) -> None:
        """Append to the history; keep the newest ``keep`` events of each series touched."""
        if not events:
            return
        table = recommendation_events
        self._conn.execute(
            insert(table),
            [
                {
                    "series_id": e.series_id,
                    "at": naive_utc(e.at),
                    "kind": e.kind,
                    "from_value": e.before,
                    "to_value": e.after,
                    "reason": e.reason,
                    "by": e.by,
                }
                for e in events
            ],
        )
        touched = sorted({e.series_id for e in events})
        for start in range(0, len(touched), 500):
            chunk = touched[start : start + 500]
            ranked = (
                select(
                    table.c.id,
                    func.row_number()
                    .over(partition_by=table.c.series_id, order_by=table.c.id.desc())
                    .label("n"),
                )
                .where(table.c.series_id.in_(chunk))
                .subquery()
            )
            beyond = select(ranked.c.id).where(ranked.c.n > keep)
            self._conn.execute(delete(table).where(table.c.id.in_(beyond)))

    def add_exclusion(
        self, team: str, resource: str, dimension: Dimension | None, reason: str, at: datetime
    ) -> int:
        """Store an exclusion rule; return its id."""
        row = self._conn.execute(
            insert(exclusions)
            .values(
                team=team,
                resource=resource,
                dimension=None if dimension is None else dimension.value,
                reason=reason,
                created_at=naive_utc(at),
            )
            .returning(exclusions.c.id)
        ).one()
        return int(row[0])

    def drop_exclusion(self, rule_id: int) -> bool:
        """Forget an exclusion rule."""
        gone = self._conn.execute(delete(exclusions).where(exclusions.c.id == rule_id))
        return bool(gone.rowcount)

    def mark_digested(
        self, items: Sequence[tuple[str, str]], at: datetime
    ) -> list[tuple[str, str]]:
        """Remember what a digest posts; return the pairs not marked before (under the
        write lock, so two digests never claim the same candidate)."""
        sent = {
            (row.recommendation, row.decision)
            for row in self._conn.execute(
                select(digest_sent.c.recommendation, digest_sent.c.decision)
            )
        }
        new = [pair for pair in dict.fromkeys(items) if pair not in sent]
        if new:
            self._conn.execute(
                insert(digest_sent),
                [{"recommendation": r, "decision": d, "sent_at": naive_utc(at)} for r, d in new],
            )
        return new

    def clear_history(self) -> None:
        """Forget every event."""
        self._conn.execute(delete(recommendation_events))

    def set_arrivals(self, arrivals: Mapping[int, int], version: int) -> None:
        """Set series' last arrival times (µs), as a change of them at data ``version``."""
        for series_id, micros in arrivals.items():
            self._conn.execute(
                update(series)
                .where(series.c.id == series_id)
                .values(last_arrival=micros, changed_version=version)
            )

    def unmark_digested(self, items: Sequence[tuple[str, str]]) -> None:
        """Forget pairs a digest could not post after all."""
        for rec, decision in items:
            self._conn.execute(
                delete(digest_sent).where(
                    digest_sent.c.recommendation == rec, digest_sent.c.decision == decision
                )
            )
