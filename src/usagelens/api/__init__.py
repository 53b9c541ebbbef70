"""The HTTP API."""

from usagelens.api.app import app_from_env, create_app

__all__ = ["app_from_env", "create_app"]
