"""The digest's message: new delete candidates as Slack-compatible JSON (``{"text": …}``).

Written once for ``usagelens digest`` (local or ``--url``) and the server's schedule.
"""

from __future__ import annotations

from collections.abc import Mapping

from usagelens.api.schemas import RecommendationOut
from usagelens.domain.money import format_money
from usagelens.domain.report import TeamContact

DIGEST_LINES = 50
"""Candidates named one per line; the rest are counted."""


def digest_message(
    items: list[RecommendationOut],
    currency: str,
    contacts: Mapping[str, TeamContact] | None = None,
) -> dict[str, str]:
    """Write the Slack-compatible message of a digest (each line naming the team's owner
    and contact, where the config file gives them)."""
    known = contacts or {}

    def owner(team: str) -> str:
        entry = known.get(team)
        return f" — {entry.describe()}" if entry is not None and entry.describe() else ""

    if not items:
        return {"text": "usagelens: no new delete candidates since the last digest."}
    money = sum(i.cost or 0 for i in items)
    lines = [
        f"usagelens: {len(items)} new delete candidate{'s' if len(items) != 1 else ''}, "
        f"{format_money(money, currency)}:"
    ]
    lines += [
        f"• {i.team} / {i.resource} {i.dimension}: "
        f"{format_money(i.cost, currency)} ({i.reason}) [{i.id}]{owner(i.team)}"
        for i in items[:DIGEST_LINES]
    ]
    if len(items) > DIGEST_LINES:
        lines.append(f"… and {len(items) - DIGEST_LINES} more: usagelens recommendations list")
    return {"text": "\n".join(lines)}


__all__ = ["DIGEST_LINES", "digest_message"]
