"""The HTTP API.

``create_app`` and ``app_from_env`` are imported on first use: the CLI imports the API's
schemas and converters, and should not pay for building the whole application to do so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from usagelens.api.app import app_from_env, create_app

__all__ = ["app_from_env", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from usagelens.api import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
