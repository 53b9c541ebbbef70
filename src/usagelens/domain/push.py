"""Pushed request events (SPEC 1.4): validation and latency bucketing."""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from usagelens.domain.errors import PushEventError
from usagelens.domain.ids import name_problem

DEFAULT_LATENCY_BOUNDS: tuple[float, ...] = (0.01, 0.5, 1, 2, 3, 4, 10)
OVERFLOW_ENDPOINT = "other"
"""Where events for endpoints past the cardinality limit are counted."""


@dataclass(frozen=True, slots=True)
class PushEvent:
    """One request a service answered: its HTTP status, endpoint and duration in seconds."""

    status: int
    endpoint: str
    time: float


def parse_push_body(payload: bytes) -> list[PushEvent]:
    """Decode a JSON body and validate its events (one object or a list)."""
    try:
        document = json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PushEventError(f"body is not valid JSON ({exc})") from None
    except (RecursionError, ValueError):
        raise PushEventError("body is nested too deeply or holds a number too long") from None
    return parse_push_events(document)


def parse_push_events(document: object) -> list[PushEvent]:
    """Validate one event object or a list of them; any bad event rejects them all."""
    items = document if isinstance(document, list) else [document]
    if not items:
        raise PushEventError("no events: send an event object or a non-empty list")
    return [_event(item, index) for index, item in enumerate(items, start=1)]


def _event(item: object, index: int) -> PushEvent:
    where = f"event {index}"
    if not isinstance(item, dict):
        raise PushEventError(f"{where}: must be an object with status, endpoint and time")
    if missing := sorted({"status", "endpoint", "time"} - item.keys()):
        raise PushEventError(f"{where}: missing field(s) {', '.join(missing)}")
    if extra := sorted(str(k) for k in item.keys() - {"status", "endpoint", "time"}):
        raise PushEventError(f"{where}: unknown field(s) {', '.join(extra)}")
    status, endpoint, time = item["status"], item["endpoint"], item["time"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise PushEventError(f"{where}: status {status!r} is not an HTTP status (100 to 599)")
    if not isinstance(endpoint, str) or not endpoint.strip():
        raise PushEventError(f"{where}: endpoint must be a non-empty string")
    if (problem := name_problem(endpoint)) is not None:
        raise PushEventError(f"{where}: endpoint {problem}")
    if isinstance(time, bool) or not isinstance(time, int | float) or not math.isfinite(time):
        raise PushEventError(f"{where}: time {time!r} is not a finite number of seconds")
    if time < 0:
        raise PushEventError(f"{where}: time {time!r} is negative")
    return PushEvent(status, endpoint, float(time))


def latency_bucket(seconds: float, bounds: Sequence[float]) -> str:
    """Return the ``le`` label of the smallest bound ≥ seconds (a value on a bound is in it)."""
    index = bisect.bisect_left(bounds, seconds)
    return "+Inf" if index == len(bounds) else format_bound(bounds[index])


def format_bound(bound: float) -> str:
    """Format a bucket bound the way Prometheus clients do (``0.01``, ``1.0``, ``10.0``)."""
    return repr(float(bound))
