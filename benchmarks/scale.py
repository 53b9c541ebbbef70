"""``make bench-scale``: the write and read figures at 1 M and at 10 M observations, and how
each grew.

One store per backend is loaded branch by branch (each summary generated just before it is
sent) up to 5,040 series × 200 hours (1 M), measured, then loaded on to 50,040 series (10 M)
and measured again: bulk ingest rate (the whole load, and its last 42 summaries), one new
hour against a store holding one hour, a re-send, and the window, money and /metrics reads
first after the same write (one hour of the first point's 5,040 series) at both points. It
takes a while (tens of minutes).

    python benchmarks/scale.py [--backend sqlite|postgresql|both] [--series 50040]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from contextlib import closing
from datetime import UTC, datetime
from functools import partial
from typing import Any

from harness import (
    Api,
    Backend,
    Figure,
    Session,
    announce,
    backends,
    describe_server,
    fmt,
    machine,
    print_table,
    run_session,
    say,
    write_json,
)
from workload import (
    OBS_PER_BRANCH,
    SERIES_PER_BRANCH,
    HourFeed,
    Loaded,
    NaiveBaseline,
    branches_for,
    cold_reads,
    load_branches,
    new_hours,
    price_list,
    resend_rates,
    start_hour_store,
)

FIGURES = [
    Figure("observations", "observations stored"),
    Figure("bulk_rate", "bulk ingest over HTTP, the whole load", "obs/s"),
    Figure("recent_rate", "bulk ingest, the last summaries loaded", "obs/s"),
    Figure("recent_naive_rate", "  naive script, the same summaries", "obs/s"),
    Figure("bulk_vs_naive", "  server ÷ naive", "×", (">=", 1)),
    Figure("hour_every_obs", "one new hour for every series, observations"),
    Figure("hour_every_ms", "  into the big store", "ms"),
    Figure("hour_every_small_ms", "  into a store holding one hour", "ms"),
    Figure("hour_every_ratio", "  big ÷ one-hour", "×", ("<=", 2)),
    Figure("hour_base_ms", "one new hour of the first point's series, big store", "ms"),
    Figure("resend_rate", "re-send a stored summary after other writes", "obs/s"),
    Figure("resend_vs_naive", "  ÷ naive script (its last summaries)", "×", (">=", 2)),
    Figure("resend_unchanged_rate", "the same again, nothing written since", "obs/s"),
    Figure("resend_unchanged_vs_naive", "  ÷ naive script (its last summaries)", "×", (">=", 3)),
    Figure("read_write_series", "a write of one hour for the first point's series, series"),
    Figure("window_cold_ms", "  then the 7-day window, cold", "ms", ("<=", 300)),
    Figure("costs_deleted_cold_ms", "  then costs/deleted, cold", "ms", ("<=", 200)),
    Figure("metrics_gzip_cold_ms", "  then /metrics gzip, cold", "ms", ("<=", 300)),
]


def main() -> int:
    """Measure each backend at both sizes, print the growth, write the JSON."""
    args = options()
    return run_session(args.python, lambda session: scale(args, session))


def options() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["both", "sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--python", default=sys.executable, help="interpreter of the server")
    parser.add_argument("--base-series", type=int, default=5040, help="series at the first point")
    parser.add_argument("--series", type=int, default=50040, help="series at the second point")
    parser.add_argument("--concurrency", type=int, default=2, help="bulk posts in flight")
    parser.add_argument("--repetitions", type=int, default=5, help="new hours per figure")
    parser.add_argument("--chunk", type=int, default=50, help="branches per progress line")
    parser.add_argument("--name", default="scale", help="results/<name>.json")
    args = parser.parse_args()
    if args.series <= args.base_series:
        parser.error("--series must be larger than --base-series")
    return args


def scale(args: argparse.Namespace, session: Session) -> int:
    """The whole run; the exit status."""
    began = time.perf_counter()
    server = describe_server(args.python)
    base, every = branches_for(args.base_series), branches_for(args.series)
    say(f"server: usagelens {server['usagelens']} {server.get('commit', '')} ({args.python})")
    say(
        f"loading {len(every) * OBS_PER_BRANCH:,} observations ({len(every)} summaries) per "
        f"backend, measuring at {len(base) * OBS_PER_BRANCH:,} and at the end: this takes a "
        "while (tens of minutes on 2 cores); a line per "
        f"{args.chunk} summaries. Servers: --workers 2; posts {args.concurrency} in flight."
    )
    points = {}
    for backend in backends(args.backend, session.scratch):
        say(f"\n== {backend.title} ==")
        points[backend.name] = measure_backend(backend, args, session, base, every)
    elapsed = time.perf_counter() - began
    report(args, server, points, elapsed, session.others_cpu())
    return 0


def measure_backend(
    backend: Backend,
    args: argparse.Namespace,
    session: Session,
    base: range,
    every: range,
) -> list[dict[str, Any]]:
    """Load one store to the first point, measure, load on to the second, measure."""
    feed = HourFeed()
    total = Loaded()
    tail = min(len(base), len(every) - len(base))  # the last summaries loaded for a point
    stages = ((base[:0], base), (every[len(base) : len(every) - tail], every[-tail:]))
    points = []
    with (
        session.store(backend, "big") as big,
        closing(NaiveBaseline(session.scratch / f"naive-{backend.name}.db")) as naive,
    ):
        big.put_prices(price_list(every))
        load = partial(
            load_branches, big, naive, concurrency=args.concurrency, chunk=args.chunk, total=total
        )
        for middle, recent in stages:
            say(f"loading branches {(middle or recent)[0]}..{recent[-1]}")
            load(middle)
            last = load(recent)
            say(f"measuring at {total.observations + feed.observations:,} observations")
            point = measure_point(backend, args, session, big, feed, base, range(1, recent[-1] + 1))
            point |= {
                "observations": total.observations + feed.observations,
                "bulk_rate": total.rate,
                "recent_rate": last.rate,
                "recent_naive_rate": last.naive_rate,
                "bulk_vs_naive": last.rate / last.naive_rate,
                "resend_vs_naive": point["resend_rate"] / last.naive_rate,
                "resend_unchanged_vs_naive": point["resend_unchanged_rate"] / last.naive_rate,
                "recent_branches": f"{recent[0]}..{recent[-1]}",
            }
            for figure in FIGURES:
                announce(FIGURES, figure.key, point.get(figure.key))
            points.append(point)
    return points


def measure_point(
    backend: Backend,
    args: argparse.Namespace,
    session: Session,
    big: Api,
    feed: HourFeed,
    base: Sequence[int],
    loaded: Sequence[int],
) -> dict[str, Any]:
    """The write figures on the big store as it is now; a fresh one-hour store per series set."""
    point: dict[str, Any] = {}
    for key, branches in (("every", loaded), ("base", base)):
        if key == "base" and branches == loaded:  # at the first point both are the same
            point["hour_base_ms"] = point["hour_every_ms"]
            continue
        with session.store(backend, "hour") as small:
            start_hour_store(small, branches)
            hour = new_hours(big, small, feed, branches, args.repetitions)
        point[f"hour_{key}_ms"] = hour.big_ms
        point[f"hour_{key}_samples"] = {"big": hour.big_samples, "one_hour": hour.small_samples}
        if key == "every":
            point["hour_every_obs"] = len(branches) * SERIES_PER_BRANCH
            point["hour_every_small_ms"] = hour.small_ms
            point["hour_every_ratio"] = hour.ratio
    point["resend_rate"], point["resend_unchanged_rate"] = resend_rates(big, base[0])
    # The same write at both points: a read that costs what changed stays flat.
    point["read_write_series"] = len(base) * SERIES_PER_BRANCH
    for key, ms in cold_reads(big, feed, base).items():
        point[f"{key}_cold_ms"] = ms
    return point


def report(
    args: argparse.Namespace,
    server: dict[str, str],
    points: dict[str, list[dict[str, Any]]],
    elapsed: float,
    others: dict[str, float],
) -> None:
    """Print each figure at both points and its growth; write the JSON."""
    headers = ["figure"]
    for name in points:
        first, second = points[name][0]["observations"], points[name][1]["observations"]
        title = "SQLite" if name == "sqlite" else "PostgreSQL"
        headers += [f"{title} {_size(first)}", f"{_size(second)}", "growth"]
    headers += ["target", "ok? (first/second)"]
    rows = []
    for figure in FIGURES:
        row = [figure.label]
        verdicts = []
        for name, measured in points.items():
            values = [p.get(figure.key) for p in measured]
            row += [fmt(v, figure.unit) for v in values]
            growth = values[1] / values[0] if all(values) else None
            row.append(f"{growth:.2f}×" if growth is not None else "—")
            if figure.target is not None:
                shown = "/".join(fmt(figure.holds(v), "") for v in values)
                verdicts.append(shown if name == "sqlite" else f"(pg {shown})")
        rows.append([*row, figure.target_text(), " ".join(verdicts)])
    say(
        f"\nusagelens {server['usagelens']} {server.get('commit', '')}: write and read figures "
        f"at two sizes, {elapsed / 60:.1f} min; growth = second ÷ first (a rate falling shows < 1×)"
    )
    print_table(headers, rows)
    document = {
        "kind": "scale",
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_s": round(elapsed, 1),
        "server": server,
        "machine": machine() | {"others_during_run": others},
        "options": vars(args),
        "points": points,
        "growth": {
            name: {
                f.key: measured[1][f.key] / measured[0][f.key]
                for f in FIGURES
                if measured[0].get(f.key) and measured[1].get(f.key)
            }
            for name, measured in points.items()
        },
    }
    for path in write_json(args.name, document):
        say(f"wrote {path}")


def _size(observations: int) -> str:
    if observations >= 1_000_000:
        return f"{observations / 1e6:.1f} M obs"
    return f"{observations / 1e3:.0f} k obs"


if __name__ == "__main__":
    sys.exit(main())
