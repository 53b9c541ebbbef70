"""Pulling from monitoring sources: HTTP (course-compatible) and a PostgreSQL table."""

from usagelens.sources.http import HttpMonitoringSource, RetryPolicy
from usagelens.sources.table import PostgresTableSource, is_table_source

__all__ = ["HttpMonitoringSource", "PostgresTableSource", "RetryPolicy", "is_table_source"]
