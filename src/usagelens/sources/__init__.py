"""Pulling from monitoring sources."""

from usagelens.sources.http import HttpMonitoringSource

__all__ = ["HttpMonitoringSource"]
