"""Pulling from monitoring sources: HTTP (course-compatible) and a PostgreSQL table."""

from usagelens.sources.http import HttpMonitoringSource, RetryPolicy
from usagelens.sources.table import PostgresTableSource
from usagelens.sources.urls import check_source_url, is_table_source

__all__ = [
    "HttpMonitoringSource",
    "PostgresTableSource",
    "RetryPolicy",
    "check_source_url",
    "is_table_source",
]
