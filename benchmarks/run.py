"""``make bench``: issue 7's workload against a real server over HTTP, and a naive baseline.

Per backend (SQLite, and PostgreSQL when reachable): load 1,008,000 observations (5,040
series × 200 hours, 42 course-sized summaries) over HTTP and into the naive script, then
measure one new hour against a one-hour store, a re-send, warm and cold reads, ``/metrics``,
requests per second under 32 clients (wrk), and one 30 MB payload on a fresh server.
Prints every figure, ratio and target, and writes ``benchmarks/results/<name>.json``.
Nothing passes or fails here; the exit status is 1 only if the server failed or answered
errors.

    python benchmarks/run.py [--backend both|sqlite|postgresql] [--python OTHER/.venv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from harness import (
    MIB,
    TOKEN,
    Api,
    Backend,
    Figure,
    Session,
    announce,
    backends,
    burst,
    describe_server,
    fmt,
    load,
    machine,
    median_ms,
    print_table,
    run_session,
    say,
    write_json,
)
from workload import (
    COSTS_DELETED,
    END,
    OBS_PER_BRANCH,
    SERIES_PER_BRANCH,
    WINDOW,
    HourFeed,
    NaiveBaseline,
    branches_for,
    cold_reads,
    joined_summary,
    load_branches,
    new_hours,
    price_list,
    resend_rates,
    start_hour_store,
)

FOCUS = "/api/v1/export/focus"
CHANGES = "/api/v1/changes?since=" + quote((END - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ"))
"""What changed in the data's last three days (its earlier end a window view of raw rows)."""
PUSH_EVENT = '{"status": 202, "endpoint": "/process-finances", "time": 1.27}'
_PUSH_202 = re.compile(r"^http_service_requests_total\{([^}]*)\}\s+(\S+)", re.MULTILINE)

FIGURES = [
    Figure("series", "series in the big store"),
    Figure("observations", "observations loaded (bulk)"),
    Figure("naive_rate", "naive script: parse + executemany, no HTTP", "obs/s"),
    Figure("bulk_rate", "bulk ingest over HTTP", "obs/s"),
    Figure("bulk_vs_naive", "  ÷ naive script", "×", (">=", 1)),
    Figure("new_hour_big_ms", "one new hour for every series, into the big store", "ms"),
    Figure("new_hour_small_ms", "  the same into a one-hour store", "ms"),
    Figure("new_hour_ratio", "  big ÷ one-hour", "×", ("<=", 2)),
    Figure("resend_rate", "re-send a stored summary after other writes", "obs/s"),
    Figure("resend_vs_naive", "  ÷ naive script", "×", (">=", 2)),
    Figure("resend_unchanged_rate", "the same again, nothing written since", "obs/s"),
    Figure("resend_unchanged_vs_naive", "  ÷ naive script", "×", (">=", 3)),
    Figure("costs_total_warm_ms", "GET /api/v1/costs/total warm", "ms", ("<=", 20)),
    Figure("costs_deleted_warm_ms", "GET /api/v1/costs/deleted warm", "ms", ("<=", 20)),
    Figure("window_cold_ms", "GET /api/v1/resources?since=-7d&limit=10, cold", "ms", ("<=", 1000)),
    Figure("window_warm_ms", "  warm", "ms"),
    Figure("metrics_cold_ms", "GET /metrics, first after a write", "ms", ("<=", 300)),
    Figure("metrics_warm_ms", "  warm", "ms", ("<=", 300)),
    Figure("metrics_bytes", "  size", "MB"),
    Figure("metrics_gzip_cold_ms", "GET /metrics gzip, first after a write", "ms", ("<=", 300)),
    Figure("metrics_gzip_warm_ms", "  warm", "ms", ("<=", 300)),
    Figure("metrics_gzip_bytes", "  size on the wire", "MB"),
    Figure("costs_deleted_cold_ms", "GET /api/v1/costs/deleted, first after a write", "ms"),
    Figure("focus_cold_ms", "GET /api/v1/export/focus (FOCUS CSV), first after a write", "ms"),
    Figure("focus_warm_ms", "  warm (streamed, rendered again each time)", "ms"),
    Figure("focus_bytes", "  size", "MB"),
    Figure("team_costs_cold_ms", "GET /api/v1/costs/total?team=one, first after a write", "ms"),
    Figure("team_costs_warm_ms", "  warm", "ms"),
    Figure("changes_cold_ms", "GET /api/v1/changes?since=end-3d, first after a write", "ms"),
    Figure("changes_warm_ms", "  again (the two ends' views cached)", "ms"),
    Figure("part_series", "a write of one hour for a tenth of the series, series"),
    Figure(
        "window_part_cold_ms", "  then GET /api/v1/resources?since=-7d, cold", "ms", ("<=", 300)
    ),
    Figure(
        "costs_deleted_part_cold_ms", "  then GET /api/v1/costs/deleted, cold", "ms", ("<=", 200)
    ),
    Figure("metrics_gzip_part_cold_ms", "  then GET /metrics gzip, cold", "ms", ("<=", 300)),
    Figure("healthz_rps", "GET /healthz, 32 clients", "req/s"),
    Figure("costs_deleted_rps", "GET /api/v1/costs/deleted, 32 clients", "req/s"),
    Figure("costs_vs_healthz", "  ÷ /healthz", "×", (">=", 0.5)),
    Figure("push_rps", "POST /metric-receiver (1 event each), 32 clients", "req/s"),
    Figure("push_vs_healthz", "  ÷ /healthz", "×", (">=", 0.5)),
    Figure("push_counted_exactly", "  202 counter = 2xx answers (2,000-push burst)", "", ("==", 1)),
    Figure("rss_after_load_bytes", "server RSS after all of that, largest process", "MB"),
    Figure("rss_after_load_total_bytes", "  all its processes", "MB"),
    Figure("payload_bytes", "one big payload, size", "MB"),
    Figure("payload_s", "  time to ingest (fresh server, 1 worker)", "s"),
    Figure("payload_rate", "  rate", "obs/s"),
    Figure("rss_peak_bytes", "  server peak RSS (VmHWM)", "MB"),
    Figure("rss_ratio", "  peak RSS ÷ payload", "×", ("<=", 8)),
]


@dataclass
class Measured:
    """One backend's figures, the details behind them, and errors the server answered."""

    figures: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def put(self, key: str, value: Any) -> None:
        """Record a figure and print it as it comes."""
        self.figures[key] = value
        announce(FIGURES, key, value)


def main() -> int:
    """Measure each backend, print the table, write the JSON."""
    args = options()
    return run_session(args.python, lambda session: bench(args, session))


def bench(args: argparse.Namespace, session: Session) -> int:
    """The whole run; the exit status."""
    began = time.perf_counter()
    server = describe_server(args.python)
    header(args, server)
    chosen = backends(args.backend, session.scratch)
    payload_branches = branches_for(args.payload_series, first=101)
    say(f"generating the big payload (branches {_span(payload_branches)}) …")
    payload = joined_summary(payload_branches)
    results = {}
    for backend in chosen:
        say(f"\n== {backend.title} ==")
        measured = results[backend.name] = Measured()
        measure_backend(backend, args, session, measured)
        measure_payload(backend, args, session, payload, measured)
    others = session.others_cpu()
    report(args, server, chosen, results, time.perf_counter() - began, others)
    errors = [e for m in results.values() for e in m.errors]
    for error in errors:
        print(f"server error: {error}", file=sys.stderr)
    return 1 if errors else 0


def options() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["both", "sqlite", "postgresql"], default="both")
    parser.add_argument("--python", default=sys.executable, help="interpreter of the server")
    parser.add_argument("--series", type=int, default=5040, help="series in the big store")
    parser.add_argument("--payload-series", type=int, default=3960, help="big payload's series")
    parser.add_argument("--concurrency", type=int, default=2, help="bulk posts in flight")
    parser.add_argument("--repetitions", type=int, default=5, help="new hours per figure")
    parser.add_argument("--calls", type=int, default=50, help="warm calls per median")
    parser.add_argument("--wrk-seconds", type=float, default=10, help="each wrk run")
    parser.add_argument("--name", default="bench", help="results/<name>.json")
    return parser.parse_args()


def header(args: argparse.Namespace, server: dict[str, str]) -> None:
    """Say what is measured, on what."""
    say(f"server: usagelens {server['usagelens']} ({server.get('commit', 'not a git checkout')})")
    say(f"        from {server['source']}, Python {server['python_version']} ({args.python})")
    host = machine()
    say(f"host: {host['cores']} cores, {host['cpu']}; load: {host['wrk']}")
    say(
        f"servers run with --workers 2 (the 32-client runs: wrk -t1 -c32, {args.wrk_seconds:g} s"
        "), the big-payload server with --workers 1; bulk posts "
        f"{args.concurrency} in flight; data: the simulator, ending {END:%Y-%m-%d %H:%M} UTC"
    )


def measure_backend(
    backend: Backend, args: argparse.Namespace, session: Session, out: Measured
) -> None:
    """Everything but the big payload, on one big store and one one-hour store."""
    branches = branches_for(args.series)
    with (
        session.store(backend, "big") as big,
        session.store(backend, "hour") as small,
        closing(NaiveBaseline(session.scratch / f"naive-{backend.name}.db")) as naive,
    ):
        big.put_prices(price_list(branches))
        start_hour_store(small, branches)
        feed = HourFeed()
        measure_writes(big, small, naive, feed, branches, args, out)
        measure_reads(big, feed, branches, args, out)
        measure_load(big, args, session.scratch, out)


def measure_writes(
    big: Api,
    small: Api,
    naive: NaiveBaseline,
    feed: HourFeed,
    branches: range,
    args: argparse.Namespace,
    out: Measured,
) -> None:
    """Bulk load (against the naive script), new hours (each followed by a cold window
    read), and a re-send.
    """
    say(f"bulk load: branches {_span(branches)}, one summary each, priced first")
    loaded = load_branches(big, naive, branches, concurrency=args.concurrency, chunk=50)
    out.put("series", len(branches) * SERIES_PER_BRANCH)
    out.put("observations", loaded.observations)
    out.put("naive_rate", loaded.naive_rate)
    out.put("bulk_rate", loaded.rate)
    out.put("bulk_vs_naive", loaded.rate / loaded.naive_rate)

    cold_window: list[float] = []
    hour = new_hours(
        big,
        small,
        feed,
        branches,
        args.repetitions,
        after=lambda: cold_window.append(big.get(WINDOW).seconds),
    )
    out.details["new_hour_ms"] = {"big": hour.big_samples, "one_hour": hour.small_samples}
    out.put("new_hour_big_ms", hour.big_ms)
    out.put("new_hour_small_ms", hour.small_ms)
    out.put("new_hour_ratio", hour.ratio)
    out.put("window_cold_ms", median_ms(cold_window))

    resend, unchanged = resend_rates(big, branches[0])
    out.put("resend_rate", resend)
    out.put("resend_vs_naive", resend / loaded.naive_rate)
    out.put("resend_unchanged_rate", unchanged)
    out.put("resend_unchanged_vs_naive", unchanged / loaded.naive_rate)


def measure_reads(
    api: Api, feed: HourFeed, branches: range, args: argparse.Namespace, out: Measured
) -> None:
    """Warm costs and window; ``/metrics`` plain and gzip, first scrape after a write (a new
    hour; median of 3) and warm (median of 10); then each read first after a write of a
    tenth of the series (a source posting its own teams; median of 3).
    """
    for key, path in (("costs_total", "/api/v1/costs/total"), ("costs_deleted", COSTS_DELETED)):
        api.get(path)
        out.put(f"{key}_warm_ms", api.timed(path, args.calls))
    out.put("window_warm_ms", api.timed(WINDOW, max(1, args.calls // 5)))
    for suffix, encoding in (("", "identity"), ("_gzip", "gzip")):
        cold = []
        for _ in range(3):
            api.ingest(feed.next(branches))
            cold.append(api.get("/metrics", **{"Accept-Encoding": encoding}).seconds)
        warm = [api.get("/metrics", **{"Accept-Encoding": encoding}) for _ in range(10)]
        encoded = warm[-1].headers.get("content-encoding", "none")
        out.details[f"metrics{suffix}_content_encoding"] = encoded
        out.put(f"metrics{suffix}_cold_ms", median_ms(cold))
        out.put(f"metrics{suffix}_warm_ms", median_ms([f.seconds for f in warm]))
        out.put(f"metrics{suffix}_bytes", warm[-1].wire_bytes)
    cold_costs = []
    for _ in range(3):
        api.ingest(feed.next(branches))
        cold_costs.append(api.get(COSTS_DELETED).seconds)
    out.put("costs_deleted_cold_ms", median_ms(cold_costs))
    cold_focus = []
    for _ in range(3):
        api.ingest(feed.next(branches))
        cold_focus.append(api.get(FOCUS).seconds)
    out.put("focus_cold_ms", median_ms(cold_focus))
    warm_focus = [api.get(FOCUS) for _ in range(3)]
    out.put("focus_warm_ms", median_ms([f.seconds for f in warm_focus]))
    out.put("focus_bytes", warm_focus[-1].wire_bytes)
    team = sorted(json.loads(api.get("/api/v1/costs/total").body)["teams"])[0]
    one_team = "/api/v1/costs/total?" + urlencode({"team": team})
    cold_team, cold_changes = [], []
    for _ in range(3):
        api.ingest(feed.next(branches))
        cold_team.append(api.get(one_team).seconds)
        api.ingest(feed.next(branches))
        cold_changes.append(api.get(CHANGES).seconds)
    out.put("team_costs_cold_ms", median_ms(cold_team))
    out.put("team_costs_warm_ms", api.timed(one_team, args.calls))
    out.put("changes_cold_ms", median_ms(cold_changes))
    out.put("changes_warm_ms", api.timed(CHANGES, 5))
    part = branches[: max(1, len(branches) // 10)]
    out.put("part_series", len(part) * SERIES_PER_BRANCH)
    for key, ms in cold_reads(api, feed, part).items():
        out.put(f"{key}_part_cold_ms", ms)


def measure_load(api: Api, args: argparse.Namespace, scratch: Path, out: Measured) -> None:
    """Requests per second under 32 clients; then whether every pushed event was counted."""
    base = api.server.base_url
    push = {
        "method": "POST",
        "body": PUSH_EVENT,
        "headers": {"Content-Type": "application/json", "X-Auth-Token": TOKEN},
    }
    runs = {}
    for key, path in (("healthz", "/healthz"), ("costs_deleted", COSTS_DELETED)):
        runs[key] = load(base + path, connections=32, seconds=args.wrk_seconds, scratch=scratch)
    before = push_count(api)
    runs["push"] = load(
        base + "/metric-receiver", connections=32, seconds=args.wrk_seconds, scratch=scratch, **push
    )
    during_load = settled_push_count(api) - before
    # wrk stops on a clock and hangs up on the requests still in flight: the server may
    # count those without wrk seeing the answer. So the exact check is a fixed-count burst
    # where every request is answered.
    before = push_count(api)
    runs["push_burst"] = burst(base + "/metric-receiver", count=2000, connections=32, **push)
    exact = settled_push_count(api) - before
    for key, run in runs.items():
        out.details[f"{key}_load"] = vars(run)
        if run.failed:
            out.errors.append(f"{key}: {run.failed} of {run.answered} answers were errors")
    wrk_push, checked = runs["push"], runs["push_burst"]
    in_flight = wrk_push.sent - wrk_push.answered
    out.details["push_check"] = {
        "load": {
            "tool": wrk_push.tool,
            "counter_grew_by": during_load,
            "answered_2xx": wrk_push.ok,
            "in_flight_at_stop": in_flight,
            "consistent": wrk_push.ok <= during_load <= wrk_push.ok + in_flight,
        },
        "burst": {"counter_grew_by": exact, "answered_2xx": checked.ok, "sent": checked.sent},
    }
    out.put("healthz_rps", runs["healthz"].rps)
    out.put("costs_deleted_rps", runs["costs_deleted"].rps)
    out.put("costs_vs_healthz", runs["costs_deleted"].rps / runs["healthz"].rps)
    out.put("push_rps", wrk_push.rps)
    out.put("push_vs_healthz", wrk_push.rps / runs["healthz"].rps)
    say(
        f"    during the {wrk_push.tool} run: counter +{during_load:,} for {wrk_push.ok:,} 2xx "
        f"answers and {in_flight} requests in flight when it stopped (consistent: "
        f"{fmt(out.details['push_check']['load']['consistent'], '')})"
    )
    say(f"    burst of {checked.sent:,} (32 at once): counter +{exact:,}, {checked.ok:,} 2xx")
    out.put("push_counted_exactly", exact == checked.ok)
    memory = api.server.memory()
    out.put("rss_after_load_bytes", memory["rss"])
    out.put("rss_after_load_total_bytes", memory["rss_total"])


def push_count(api: Api) -> int:
    """``http_service_requests_total{status="202"}`` as ``/metrics`` shows it."""
    text = api.get("/metrics").body.decode()
    for labels, value in _PUSH_202.findall(text):
        if 'status="202"' in labels:
            return int(float(value))
    return 0


def settled_push_count(api: Api, timeout: float = 15) -> int:
    """The 202 counter once it stops moving (requests in flight at wrk's stop may land)."""
    deadline = time.monotonic() + timeout
    last = push_count(api)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = push_count(api)
        if now == last:
            return now
        last = now
    return last


def measure_payload(
    backend: Backend, args: argparse.Namespace, session: Session, payload: bytes, out: Measured
) -> None:
    """One big summary into a fresh store on a fresh 1-worker server: time and peak RSS."""
    limit = max(64 * MIB, 2 * len(payload))
    with session.store(backend, "payload", workers=1, max_body_bytes=limit) as api:
        pids = api.server.processes()
        before = api.server.memory()
        seconds = api.ingest(payload)
        after = api.server.memory()
    observations = len(branches_for(args.payload_series)) * OBS_PER_BRANCH
    out.details["payload"] = {
        "observations": observations,
        "serving_processes": pids,
        "served_by_main_process": len(pids) == 1,
        "before": before,
        "after": after,
    }
    say(
        f"  big payload: {observations:,} obs; server pids {pids}; before it: peak "
        f"{fmt(before['peak'], 'MB')}, RSS {fmt(before['rss'], 'MB')}"
    )
    out.put("payload_bytes", len(payload))
    out.put("payload_s", seconds)
    out.put("payload_rate", observations / seconds)
    out.put("rss_peak_bytes", after["peak"])
    out.put("rss_ratio", after["peak"] / len(payload))


def report(
    args: argparse.Namespace,
    server: dict[str, str],
    chosen: list[Backend],
    results: dict[str, Measured],
    elapsed: float,
    others: dict[str, float],
) -> None:
    """Print the table of figures and targets, and write the JSON."""
    titles = {b.name: b.title for b in chosen}
    columns = ["sqlite", "postgresql"]
    rows = []
    for figure in FIGURES:
        values = [results[c].figures.get(figure.key) if c in results else None for c in columns]
        cells = [fmt(v, figure.unit) for v in values]
        verdicts = [figure.holds(v) for v in values]
        ok = fmt(verdicts[0], "") if verdicts[0] is not None else ""
        if verdicts[1] is not None:
            ok += f" (pg {fmt(verdicts[1], '').lower()})"
        rows.append([figure.label, *cells, figure.target_text(), ok.strip()])
    say(
        f"\nusagelens {server['usagelens']} {server.get('commit', '')}, "
        f"{elapsed / 60:.1f} min; targets from issue 7 (on SQLite; PostgreSQL beside)"
    )
    say(
        f"big store: {args.series:,} series × 200 h in {len(branches_for(args.series))} summaries,"
        f" posted {args.concurrency} at a time; new hour: {args.series:,} obs, median of "
        f"{args.repetitions}; warm: median of {args.calls}; big payload: "
        f"{len(branches_for(args.payload_series)) * OBS_PER_BRANCH:,} obs in one summary"
    )
    print_table(["figure", "SQLite", "PostgreSQL", "target", "ok?"], rows)
    if "postgresql" not in results:
        say("(PostgreSQL not measured)")
    document = {
        "kind": "bench",
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_s": round(elapsed, 1),
        "server": server,
        "machine": machine() | {"others_during_run": others},
        "options": {k: v for k, v in vars(args).items()},
        "end": END.isoformat(),
        "backends": {
            name: {"title": titles[name], "figures": m.figures, "details": m.details}
            for name, m in results.items()
        },
        "targets": {
            f.key: {
                "target": f.target_text(),
                "ok": {name: f.holds(m.figures.get(f.key)) for name, m in results.items()},
            }
            for f in FIGURES
            if f.target is not None
        },
        "errors": [e for m in results.values() for e in m.errors],
    }
    for path in write_json(args.name, document):
        say(f"wrote {path}")


def _span(branches: range) -> str:
    return f"{branches[0]}..{branches[-1]}"


if __name__ == "__main__":
    sys.exit(main())
