"""An independent, deliberately naive implementation of SPEC 1.1 and 2-3 to check against.

It shares no code with usagelens: plain splitting, sorting for the median, literal rules.
"""

from __future__ import annotations

from collections import defaultdict


def parse(text: str) -> dict[tuple[str, str, str], dict[str, float]]:
    """Return {(team, resource, dimension): {collected_at: usage}} (later values win)."""
    series: dict[tuple[str, str, str], dict[str, float]] = defaultdict(dict)
    for chunk in text.strip().split("$"):
        team, records = chunk.split("|", 1)
        for record in records.split(";"):
            resource, dimension, moment, usage = record.strip()[1:-1].split(",")
            series[(team, resource, dimension)][moment] = float(usage)
    return series


def render(records: list[tuple[str, str, str, str, float]]) -> str:
    """Render (team, resource, dimension, collected_at, usage) records in the text format."""
    teams: dict[str, list[str]] = {}
    for team, resource, dimension, moment, usage in records:
        text = str(int(usage)) if float(usage).is_integer() else repr(usage)
        teams.setdefault(team, []).append(f"({resource},{dimension},{moment},{text})")
    return "$".join(f"{team}|{';'.join(rs)}" for team, rs in teams.items())


def median(values: list[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def rows(series: dict[tuple[str, str, str], dict[str, float]], prices: dict) -> list[dict]:
    """Apply SPEC 2 literally; cost split evenly among the teams using a resource dimension."""
    users: dict[tuple[str, str], int] = defaultdict(int)
    for _team, resource, dimension in series:
        users[(resource, dimension)] += 1
    out = []
    for (team, resource, dimension), by_time in series.items():
        values = list(by_time.values())
        mean = sum(values) / len(values)
        med = median(values)
        if mean < 0.75 * med:
            usage_type = "falling"
        elif mean > 1.25 * med:
            usage_type = "spiky"
        else:
            usage_type = "stable"
        if med <= 30:
            intensity = "low"
        elif med <= 60:
            intensity = "medium"
        elif med <= 90:
            intensity = "high"
        else:
            intensity = "extreme"
        if intensity == "low":
            decision = "delete"
        elif intensity == "extreme" or (intensity == "high" and usage_type == "spiky"):
            decision = "extend"
        else:
            decision = "keep"
        price = prices.get(resource, {}).get(dimension)
        cost = None if price is None else price / users[(resource, dimension)]
        out.append(
            {
                "team": team,
                "resource": resource,
                "dimension": dimension,
                "count": len(values),
                "mean": mean,
                "median": med,
                "usage_type": usage_type,
                "intensity": intensity,
                "decision": decision,
                "cost": cost,
            }
        )
    return out


def money(table: list[dict]) -> dict:
    """Return overall total and money to delete by dimension."""
    total = sum(r["cost"] for r in table if r["cost"] is not None)
    deleted = {"CPU": 0.0, "RAM": 0.0, "NetFlow": 0.0}
    for r in table:
        if r["decision"] == "delete" and r["cost"] is not None:
            deleted[r["dimension"]] += r["cost"]
    return {"total": total, "deleted": deleted}
