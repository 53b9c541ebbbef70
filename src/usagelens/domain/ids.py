"""One rule for the names usagelens stores: how long they may be and what they may hold.

Teams, resources and pushed endpoints are names (at most NAME_MAX characters); an origin
of a price list and a source's URL are locators (at most LOCATOR_MAX); a batch's label
names its source and branch (at most LABEL_MAX).
Neither may be empty or hold a control character, a NUL or a lone surrogate. The API,
the command line and the sources check with these functions at the edge, and the schema
sizes its columns from the same constants, so the database never meets a value it must
refuse.
"""

from __future__ import annotations

from usagelens.domain.errors import InvalidName

NAME_MAX = 200
"""Longest team, resource or pushed endpoint, in characters."""
LOCATOR_MAX = 500
"""Longest price-list origin or source URL, in characters."""
LABEL_MAX = LOCATOR_MAX + 100
"""Longest label of an ingest batch (a source's URL and the branch it came from)."""


def name_problem(value: str, max_length: int = NAME_MAX) -> str | None:
    """Say what is wrong with a name ("is empty", …), or None when it may be stored."""
    if not value:
        return "is empty"
    if len(value) > max_length:
        return f"is longer than {max_length} characters"
    if not value.isprintable():  # control characters, NUL, lone surrogates, separators
        return f"{value[:60]!r} holds control characters"
    return None


def check_name(value: str, what: str, max_length: int = NAME_MAX) -> str:
    """Return ``value`` if it may be stored as ``what``; raise InvalidName naming it if not."""
    problem = name_problem(value, max_length)
    if problem is not None:
        raise InvalidName(f"{what} {problem}")
    return value


def check_locator(value: str, what: str) -> str:
    """Return an origin or source URL that may be stored; raise InvalidName if not."""
    return check_name(value, what, LOCATOR_MAX)


__all__ = [
    "LABEL_MAX",
    "LOCATOR_MAX",
    "NAME_MAX",
    "check_locator",
    "check_name",
    "name_problem",
]
