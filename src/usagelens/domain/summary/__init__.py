"""The monitoring module's usage summary: parse it exactly, render it back.

Text form (SPEC 1.1)::

    <team>|(<resource>,<dimension>,<collected_at>,<usage>);(...)$<team>|(...)

JSON form: a list of ``{"team", "resource", "dimension", "collected_at", "usage"}``.
Both parsers reject the whole payload at the first fault, naming where it is.

- ``fields`` — the field rules both forms share, and where a fault is (``Where``).
- ``text`` — the text format: ``parse_summary`` and the streaming ``SummaryParser``.
- ``records`` — the JSON form: ``parse_records`` and the streaming ``RecordsParser``.
- ``stream`` — what the streaming parsers share: UTF-8 across chunks, feed and close.
- ``fast`` — the streaming parsers' bulk fast path (columns, runs, checks once each).
- ``render`` — observations back to the text format and the JSON form.
"""

from __future__ import annotations

from usagelens.domain.summary.fields import parse_timestamp
from usagelens.domain.summary.records import RecordsParser, parse_records, parse_records_batch
from usagelens.domain.summary.render import (
    format_timestamp,
    format_usage,
    render_batch,
    render_records,
    render_summary,
)
from usagelens.domain.summary.text import (
    SummaryParser,
    parse_summary,
    parse_summary_batch,
    parse_summary_bytes,
)

__all__ = [
    "RecordsParser",
    "SummaryParser",
    "format_timestamp",
    "format_usage",
    "parse_records",
    "parse_records_batch",
    "parse_summary",
    "parse_summary_batch",
    "parse_summary_bytes",
    "parse_timestamp",
    "render_batch",
    "render_records",
    "render_summary",
]
