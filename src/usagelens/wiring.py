"""Assemble the application service from settings (used by the API and the CLI)."""

from __future__ import annotations

from sqlalchemy import Engine

from usagelens.config import Settings
from usagelens.services import UsageLens
from usagelens.storage import SqlRepository


def service_for(settings: Settings, engine: Engine) -> UsageLens:
    """Build the application service for these settings on an engine."""
    return UsageLens(
        SqlRepository(engine),
        policy=settings.load_policy(),
        currency=settings.currency,
        latency_bounds=settings.push_buckets,
        max_endpoints=settings.push_max_endpoints,
    )
