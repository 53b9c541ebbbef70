"""The digest's message: new delete candidates as Slack-compatible JSON (``{"text": …}``).

Written once for ``usagelens digest`` (local or ``--url``) and the server's schedule.
"""

from __future__ import annotations

from usagelens.api.schemas import RecommendationOut
from usagelens.domain.money import format_money

DIGEST_LINES = 50
"""Candidates named one per line; the rest are counted."""


def digest_message(items: list[RecommendationOut], currency: str) -> dict[str, str]:
    """Write the Slack-compatible message of a digest."""
    if not items:
        return {"text": "usagelens: no new delete candidates since the last digest."}
    money = sum(i.cost or 0 for i in items)
    lines = [
        f"usagelens: {len(items)} new delete candidate{'s' if len(items) != 1 else ''}, "
        f"{format_money(money, currency)}:"
    ]
    lines += [
        f"• {i.team} / {i.resource} {i.dimension}: "
        f"{format_money(i.cost, currency)} ({i.reason}) [{i.id}]"
        for i in items[:DIGEST_LINES]
    ]
    if len(items) > DIGEST_LINES:
        lines.append(f"… and {len(items) - DIGEST_LINES} more: usagelens recommendations list")
    return {"text": "\n".join(lines)}


__all__ = ["DIGEST_LINES", "digest_message"]
