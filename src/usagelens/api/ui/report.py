"""The full report as a self-contained HTML page in the dashboard's look.

Summary first (money, money on what is to be deleted, decisions, per team), then a table
per team. The stylesheet is the dashboard's own, inlined, so the file reads offline. Given
the recommendations (the server's report), the tables show each one's state.
"""

from __future__ import annotations

from collections.abc import Iterable

from usagelens import __version__
from usagelens.api.ui import render
from usagelens.domain.model import DIMENSIONS
from usagelens.domain.money import format_money
from usagelens.domain.recommendations import Recommendation
from usagelens.domain.report import COLUMNS, Report, report_title
from usagelens.domain.summary import format_timestamp

NUMERIC = frozenset({"Mean", "Median", "Cost"})


def render_report(report: Report, recommendations: Iterable[Recommendation] | None = None) -> str:
    """Render the report as one HTML page with inline CSS and no external assets; with
    recommendations, a State column shows theirs (empty for a row to keep)."""
    currency = report.currency
    states = (
        None
        if recommendations is None
        else {(i.row.team, i.row.resource, i.row.dimension): i for i in recommendations}
    )

    def money(amount: float | None) -> str:
        return format_money(amount, currency)

    title = report_title(report)
    return render(
        "report.html",
        report=report,
        title=title,
        span=title.split(" — ", 1)[-1].split(",", 1)[0],
        generated=format_timestamp(report.generated_at.replace(microsecond=0)),
        money=money,
        columns=COLUMNS,
        numeric=NUMERIC,
        dimensions=[d.value for d in DIMENSIONS],
        version=__version__,
        states=states,
        when=lambda moment: moment.strftime("%Y-%m-%d %H:%M:%S UTC"),
    )


__all__ = ["render_report"]
