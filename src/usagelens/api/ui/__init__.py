"""The dashboard's pages: what they show (pages), their charts (charts), their templates.

Every name in the data is escaped: templates autoescape, charts escape their labels.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape


@cache
def templates() -> Environment:
    """Return the template environment (built on first use, not at import)."""
    return Environment(
        loader=PackageLoader("usagelens.api.ui", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(name: str, **context: Any) -> str:
    """Render one page template with its context."""
    return templates().get_template(name).render(**context)


__all__ = ["render", "templates"]
