"""The full report as a self-contained HTML page in the dashboard's look.

Summary first (money, money on what is to be deleted, decisions, per team), then a table
per team. The stylesheet is the dashboard's own, inlined, so the file reads offline.
"""

from __future__ import annotations

from usagelens import __version__
from usagelens.api.ui import render
from usagelens.domain.model import DIMENSIONS
from usagelens.domain.report import COLUMNS, Report, report_title
from usagelens.domain.summary import format_timestamp

NUMERIC = frozenset({"Mean", "Median", "Cost"})


def render_report(report: Report) -> str:
    """Render the report as one HTML page with inline CSS and no external assets."""
    currency = report.currency

    def money(amount: float | None) -> str:
        return "unpriced" if amount is None else f"{amount:,.2f} {currency}"

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
    )


__all__ = ["render_report"]
