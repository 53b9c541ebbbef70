"""The full report (SPEC 3): per team a table and totals, then overall totals.

Rendered as plain text (aligned for a terminal), Markdown, CSV and JSON-ready dicts. The
HTML page shares the dashboard's templates and stylesheet: ``usagelens.api.ui.report``.
"""

from __future__ import annotations

import csv
import html
import io
import textwrap
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from usagelens.domain.analytics import AnalyticsRow, Evidence
from usagelens.domain.batch import to_micros
from usagelens.domain.errors import InvalidInput
from usagelens.domain.model import DIMENSIONS, Decision, Dimension, Intensity, UsageType, Window
from usagelens.domain.money import (
    CostSummary,
    DeletedCosts,
    deleted_costs,
    format_money,
    total_costs,
)
from usagelens.domain.policy import Classification
from usagelens.domain.summary import format_timestamp

COLUMNS = ("Resource", "Dimension", "Mean", "Median", "Usage type", "Intensity", "Decision", "Cost")
CSV_COLUMNS = (
    "team", "resource", "dimension", "count", "mean", "median",
    "usage_type", "intensity", "decision", "reason", "cost",
    "first_seen", "last_seen", "enough_data",
)  # fmt: skip
_EMPTY_EVIDENCE = dict.fromkeys(("first_seen", "last_seen", "enough_data"))
_NUMERIC = frozenset({"Mean", "Median", "Cost"})


@dataclass(frozen=True, slots=True)
class TeamContact:
    """Who answers for a team (config file: ``teams: {name: {owner, contact}}``)."""

    owner: str = ""
    contact: str = ""

    def describe(self) -> str:
        """Return the one line reports show: ``owner ann, contact #checkout``."""
        parts = [f"owner {self.owner}"] if self.owner else []
        parts += [f"contact {self.contact}"] if self.contact else []
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Report:
    """Everything the full report shows, computed once and rendered many ways."""

    rows: Sequence[AnalyticsRow]
    costs: CostSummary
    deleted: DeletedCosts
    currency: str
    generated_at: datetime
    window: Window
    contacts: Mapping[str, TeamContact] = field(default_factory=dict)
    """Each team's owner and contact, where the config file names them."""

    def contact(self, team: str) -> str:
        """Return the line naming a team's owner and contact ('' if none is configured)."""
        known = self.contacts.get(team)
        return known.describe() if known is not None else ""

    @property
    def teams(self) -> list[str]:
        """Return the teams in report order."""
        return sorted({row.team for row in self.rows})

    def team_rows(self, team: str) -> list[AnalyticsRow]:
        """Return one team's rows in report order."""
        return [row for row in self.rows if row.team == team]

    @property
    def decisions(self) -> dict[str, int]:
        """Count rows by decision (every decision present, zero if none)."""
        counts = Counter(row.decision for row in self.rows)
        return {d.value: counts[d] for d in Decision}


def build_report(
    rows: Sequence[AnalyticsRow], currency: str, generated_at: datetime, window: Window
) -> Report:
    """Assemble a report from analytics rows."""
    return Report(rows, total_costs(rows), deleted_costs(rows), currency, generated_at, window)


def row_to_dict(row: AnalyticsRow) -> dict[str, object]:
    """Return an analytics row as plain JSON-ready data."""
    return {
        "team": row.team,
        "resource": row.resource,
        "dimension": row.dimension.value,
        "count": row.count,
        "mean": row.mean,
        "median": row.median,
        "usage_type": row.usage_type.value,
        "intensity": row.intensity.value,
        "decision": row.decision.value,
        "reason": row.reason,
        "cost": row.cost,
        "evidence": None if row.evidence is None else evidence_to_dict(row.evidence),
    }


def evidence_to_dict(evidence: Evidence) -> dict[str, object]:
    """Return a row's evidence as JSON-ready data (times in ISO 8601, UTC)."""
    return {
        "observations": evidence.observations,
        "first_seen": _iso(evidence.first_seen),
        "last_seen": _iso(evidence.last_seen),
        "enough_data": evidence.enough_data,
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _evidence_from(data: object) -> Evidence | None:
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise TypeError("evidence is not an object")
    first, last = _moment(data["first_seen"]), _moment(data["last_seen"])
    return Evidence(
        observations=int(data["observations"]),
        first=None if first is None else to_micros(first),
        last=None if last is None else to_micros(last),
        enough_data=bool(data["enough_data"]),
    )


def render_json(report: Report) -> dict[str, object]:
    """Return the report as JSON-ready data."""
    return {
        "currency": report.currency,
        "generated_at": report.generated_at.isoformat(),
        "window": _window_dict(report.window),
        "teams": [
            {
                "team": team,
                "owner": _contact_of(report, team).owner or None,
                "contact": _contact_of(report, team).contact or None,
                "rows": [row_to_dict(r) for r in report.team_rows(team)],
                "total": report.costs.teams[team],
                "deleted": report.deleted.teams[team],
            }
            for team in report.teams
        ],
        "total": report.costs.total,
        "deleted": {"total": report.deleted.total, "by_dimension": report.deleted.by_dimension},
        "decisions": report.decisions,
        "unpriced": report.costs.unpriced,
    }


def _contact_of(report: Report, team: str) -> TeamContact:
    return report.contacts.get(team) or TeamContact()


def report_from_json(document: Mapping[str, Any]) -> Report:
    """Rebuild a report from ``render_json``'s document (what a server answers)."""
    try:
        rows = [
            AnalyticsRow(
                team=str(row["team"]),
                resource=str(row["resource"]),
                dimension=Dimension(row["dimension"]),
                verdict=Classification(
                    count=int(row["count"]),
                    mean=float(row["mean"]),
                    median=float(row["median"]),
                    usage_type=UsageType(row["usage_type"]),
                    intensity=Intensity(row["intensity"]),
                    decision=Decision(row["decision"]),
                    reason=str(row["reason"]),
                ),
                cost=None if row["cost"] is None else float(row["cost"]),
                evidence=_evidence_from(row.get("evidence")),
            )
            for team in document["teams"]
            for row in team["rows"]
        ]
        window = document["window"]
        span = Window(_moment(window["since"]), _moment(window["until"]))
        generated = datetime.fromisoformat(str(document["generated_at"]))
        contacts = {
            str(team["team"]): TeamContact(team.get("owner") or "", team.get("contact") or "")
            for team in document["teams"]
            if team.get("owner") or team.get("contact")
        }
        report = build_report(rows, str(document["currency"]), generated, span)
        return replace(report, contacts=contacts)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"not a usagelens report ({exc!r})") from None


def _moment(text: object) -> datetime | None:
    return None if text is None else datetime.fromisoformat(str(text))


def render_text(report: Report, width: int = 80) -> str:
    """Render the report as aligned plain-text tables, one per team, then totals.

    Every line fits ``width`` columns: long resource and team names are cut with an
    ellipsis, sentences are wrapped.
    """
    width = max(width, 60)
    out = [*_wrapped(_title(report), width), ""]
    for team in report.teams:
        out.append(_cut(f"Team: {team}", width))
        if report.contact(team):
            out.append(_cut(f"Owner: {report.contact(team)}", width))
        out.extend(_aligned(COLUMNS, _cells(report.team_rows(team)), width))
        out.extend(_fit(f"Team total: {_totals_line(report, team)}", width))
        out.append("")
    for line in _overall_lines(report):
        out.extend(_fit(line, width))
    return "\n".join(out) + "\n"


def _fit(line: str, width: int) -> list[str]:
    """Fit a sentence to ``width``; amounts in parentheses go on a line of their own."""
    head, sep, amounts = line.partition(" (")
    if sep and len(line) > width:
        return [*_wrapped(head, width), *_wrapped(f"  ({amounts}", width)]
    return _wrapped(line, width)


def _cut(text: str, width: int) -> str:
    """Cut text to ``width`` characters, marking the cut with an ellipsis."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _wrapped(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, subsequent_indent="  ", break_on_hyphens=False) or [""]


def render_markdown(report: Report) -> str:
    """Render the report as Markdown: a heading and a pipe table per team."""
    out = [f"# {_title(report)}", ""]
    for team in report.teams:
        out += [f"## {_md(team)}", ""]
        if report.contact(team):
            out += [f"Owner: {_md(report.contact(team))}", ""]
        out.append("| " + " | ".join(COLUMNS) + " |")
        out.append("|" + "|".join("---:" if c in _NUMERIC else "---" for c in COLUMNS) + "|")
        out += [
            "| " + " | ".join(_md(c) for c in cells) + " |"
            for cells in _cells(report.team_rows(team))
        ]
        out += ["", f"**Team total:** {_totals_line(report, team)}", ""]
    out += ["## Overall", ""] + [f"- {line}" for line in _overall_lines(report, _md)[1:]]
    return "\n".join(out) + "\n"


def render_csv(report: Report) -> str:
    """Render the analytics rows as CSV with a header line."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in report.rows:
        data = row_to_dict(row) | _EMPTY_EVIDENCE
        if row.evidence is not None:
            data |= evidence_to_dict(row.evidence)
            data["enough_data"] = "true" if row.evidence.enough_data else "false"
        writer.writerow(["" if data[c] is None else csv_safe(data[c]) for c in CSV_COLUMNS])
    return buffer.getvalue()


def money(amount: float) -> str:
    """Format an amount of money as everything shows it (``format_money``)."""
    return format_money(amount)


def report_title(report: Report) -> str:
    """Return the report's title line: its window, when it was made, the currency."""
    return _title(report)


def _title(report: Report) -> str:
    window = report.window
    if window.since is None and window.until is None:
        span = "all observations"
    else:
        since = format_timestamp(window.since) if window.since else "the start"
        until = format_timestamp(window.until) if window.until else "now"
        span = f"from {since} until {until}"
    generated = format_timestamp(report.generated_at.replace(microsecond=0))
    return f"usagelens report — {span}, generated {generated} UTC, money in {report.currency}"


def row_cells(row: AnalyticsRow) -> list[str]:
    """Return a row's cells as every table of the report shows them (COLUMNS)."""
    return [
        row.resource,
        row.dimension.value,
        f"{row.mean:.2f}",
        f"{row.median:.2f}",
        row.usage_type.value,
        row.intensity.value,
        row.decision.value,
        "unpriced" if row.cost is None else money(row.cost),
    ]


def _cells(rows: Sequence[AnalyticsRow]) -> list[list[str]]:
    return [row_cells(row) for row in rows]


def _aligned(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int) -> list[str]:
    """Lay out a table in ``width`` columns; the first column gives way (cut with …)."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    room = width - sum(widths[1:]) - 2 * (len(widths) - 1)
    if widths[0] > room:
        widths[0] = max(room, len(headers[0]))
        rows = [[_cut(r[0], widths[0]), *r[1:]] for r in rows]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(w) if h in _NUMERIC else cell.ljust(w)
            for h, cell, w in zip(headers, cells, widths, strict=True)
        ).rstrip()

    return [line(headers), "  ".join("-" * w for w in widths), *map(line, rows)]


def _totals_line(report: Report, team: str) -> str:
    deleted = report.deleted.teams[team]
    return (
        f"{money(report.costs.teams[team])} {report.currency}; "
        f"to delete {money(deleted['total'])} ({_by_dimension(deleted)})"
    )


def _overall_lines(report: Report, name: Callable[[str], str] = str) -> list[str]:
    """The overall totals as sentences; ``name`` writes a resource id in the format."""
    decisions = ", ".join(f"{n} {d}" for d, n in report.decisions.items())
    unpriced = ", ".join(map(name, report.costs.unpriced)) or "none"
    return [
        "Overall",
        f"Total cost: {money(report.costs.total)} {report.currency}",
        f"Money on what is to be deleted: {money(report.deleted.total)} {report.currency}"
        f" ({_by_dimension(report.deleted.by_dimension)})",
        f"Rows: {len(report.rows)} ({decisions})",
        f"Unpriced resources: {unpriced}",
    ]


def _by_dimension(amounts: dict[str, float]) -> str:
    return ", ".join(f"{d.value} {money(amounts[d.value])}" for d in DIMENSIONS)


def _window_dict(window: Window) -> dict[str, str | None]:
    return {
        "since": window.since.isoformat() if window.since else None,
        "until": window.until.isoformat() if window.until else None,
    }


def _md(text: str) -> str:
    """Make a name plain Markdown text: no tags, no table breaks, no markup."""
    text = html.escape(" ".join(text.split()), quote=False)  # newlines would end the row
    return "".join("\\" + char if char in _MD_SPECIAL else char for char in text)


_MD_SPECIAL = frozenset("\\`*_[]|~")
"""Characters Markdown may read as markup (``<`` and ``&`` are escaped as entities)."""


def csv_safe(value: object) -> object:
    """Neutralise a text cell a spreadsheet would run as a formula (OWASP CSV injection).

    A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
    leading apostrophe; numbers are left as they are.
    """
    if isinstance(value, str) and value[:1] in _FORMULA_STARTS:
        return "'" + value
    return value


_FORMULA_STARTS = frozenset("=+-@\t\r")
