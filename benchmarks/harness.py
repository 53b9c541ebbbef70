"""What every benchmark needs: stores, a server under test, an HTTP client, tables and JSON.

Shared by ``run.py`` (``make bench``) and ``scale.py`` (``make bench-scale``). Nothing here
knows which figures are measured; ``workload.py`` holds the data and the write figures.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx

TOKEN = "bench-token"
RESULTS = Path(__file__).parent / "results"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
MIB = 1024 * 1024


class BenchError(RuntimeError):
    """The server under test failed: it did not start, or answered an error."""


# --- stores -------------------------------------------------------------------------------


class Backend(Protocol):
    """A kind of store the server can run on; each ``database`` is fresh and dropped after."""

    name: str
    title: str

    def database(self, label: str) -> AbstractContextManager[str]:
        """Yield the URL of a new, empty database."""
        ...


@dataclass
class SqliteBackend:
    """SQLite files in a scratch directory."""

    directory: Path
    name: str = "sqlite"
    title: str = "SQLite"

    @contextmanager
    def database(self, label: str) -> Iterator[str]:
        """Yield ``sqlite:///<dir>/<label>-<id>.db``; remove the file (and WAL) afterwards."""
        path = self.directory / f"{label}-{uuid.uuid4().hex[:8]}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for leftover in self.directory.glob(path.name + "*"):
                leftover.unlink()


@dataclass
class PostgresBackend:
    """Databases created on the machine's PostgreSQL and dropped afterwards."""

    admin_url: str = PG_ADMIN_URL
    name: str = "postgresql"
    title: str = "PostgreSQL"

    def reachable(self) -> str | None:
        """Return None if the server answers, else why not."""
        try:
            self._execute("SELECT 1")
        except Exception as exc:  # psycopg raises many kinds; any means "skip"
            return f"{type(exc).__name__}: {exc}".strip()
        return None

    @contextmanager
    def database(self, label: str) -> Iterator[str]:
        """Yield the URL of ``usagelens_bench_<label>_<id>``; drop it afterwards."""
        name = f"usagelens_bench_{label}_{uuid.uuid4().hex[:8]}"
        self._execute(f'CREATE DATABASE "{name}"')
        try:
            yield self.admin_url.rsplit("/", 1)[0] + "/" + name
        finally:
            self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _execute(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(sql)  # type: ignore[arg-type]


def backends(requested: str, scratch: Path) -> list[Backend]:
    """The backends to measure (``sqlite``, ``postgresql`` or ``both``); unreachable ones skip."""
    chosen: list[Backend] = []
    if requested in ("sqlite", "both"):
        chosen.append(SqliteBackend(scratch))
    if requested in ("postgresql", "both"):
        postgres = PostgresBackend()
        problem = postgres.reachable()
        if problem is None:
            chosen.append(postgres)
        else:
            say(f"PostgreSQL at {postgres.admin_url} is unreachable ({problem}): skipping it")
    return chosen


# --- the server under test ----------------------------------------------------------------


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """``python -m usagelens serve`` as a subprocess, on its own port and database."""

    python: str
    database_url: str
    scratch: Path
    workers: int = 2
    max_body_bytes: int = 64 * MIB
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    """More USAGELENS_* settings for the server (its sources, say)."""

    @property
    def base_url(self) -> str:
        """Where the server listens."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """The server's stdout and stderr."""
        return self.scratch / f"server-{self.port}.log"

    def __enter__(self) -> Server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("USAGELENS_")}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        env |= {
            "USAGELENS_DATABASE_URL": self.database_url,
            "USAGELENS_API_TOKEN": TOKEN,
            "USAGELENS_MAX_BODY_BYTES": str(self.max_body_bytes),
            **self.extra_env,
        }
        command = [self.python, "-m", "usagelens", "serve", "--port", str(self.port)]
        command += ["--workers", str(self.workers)]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, env=env, cwd=self.scratch, stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_ready(timeout=300)
        return self

    def __exit__(self, *_: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"the server exited with {self.process.returncode} at start")
            try:
                if httpx.get(self.base_url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise BenchError(f"the server did not answer /healthz within {timeout:.0f} s")

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server's log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def processes(self) -> list[int]:
        """The server's process and all its descendants (uvicorn workers)."""
        assert self.process is not None
        parents: dict[int, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(stat.parent.name)] = int(fields[1])
        found = [self.process.pid]
        for pid in found:
            found += [child for child, parent in parents.items() if parent == pid]
        return found

    def memory(self) -> dict[str, int]:
        """Peak (``VmHWM``) and current (``VmRSS``) resident bytes, the max over processes,
        and the current bytes of all of them (``rss_total``)."""
        result = {"peak": 0, "rss": 0, "rss_total": 0}
        for pid in self.processes():
            status = _proc_status(pid)
            result["peak"] = max(result["peak"], status.get("VmHWM", 0) * 1024)
            result["rss"] = max(result["rss"], status.get("VmRSS", 0) * 1024)
            result["rss_total"] += status.get("VmRSS", 0) * 1024
        return result


def _proc_status(pid: int) -> dict[str, int]:
    """The ``kB`` fields of ``/proc/<pid>/status``."""
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if rest.strip().endswith("kB"):
                values[name] = int(rest.split()[0])
    except OSError:
        pass
    return values


# --- talking to it ------------------------------------------------------------------------


@dataclass(frozen=True)
class Fetched:
    """One timed answer: seconds to the last byte, bytes on the wire, headers, body."""

    seconds: float
    wire_bytes: int
    headers: httpx.Headers
    body: bytes


class Api:
    """A client of one server that fails loudly on errors (any 5xx, a non-2xx write)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
        self.client = httpx.Client(base_url=server.base_url, timeout=900, limits=limits)

    def close(self) -> None:
        """Close the connections."""
        self.client.close()

    def ingest(self, payload: bytes) -> float:
        """POST a text summary to ``/api/v1/usage``; return the seconds it took."""
        headers = {"Content-Type": "text/plain", "X-Auth-Token": TOKEN}
        return self.fetch("POST", "/api/v1/usage", headers=headers, content=payload).seconds

    def put_prices(self, document: str) -> None:
        """Replace the price list."""
        headers = {"Content-Type": "application/yaml", "X-Auth-Token": TOKEN}
        self.fetch("PUT", "/api/v1/prices", headers=headers, content=document.encode())

    def get(self, path: str, **headers: str) -> Fetched:
        """A timed GET; the body is read raw (not decompressed)."""
        return self.fetch("GET", path, headers={"Accept-Encoding": "identity", **headers})

    def fetch(
        self, method: str, path: str, headers: dict[str, str], content: bytes | None = None
    ) -> Fetched:
        """Send a request and read the whole answer; raise unless it is a 2xx."""
        start = time.perf_counter()
        with self.client.stream(method, path, headers=headers, content=content) as response:
            body = b"".join(response.iter_raw())
        seconds = time.perf_counter() - start
        if response.status_code >= 300:
            raise BenchError(f"{method} {path} answered {response.status_code}: {body[:500]!r}")
        return Fetched(seconds, len(body), response.headers, body)

    def timed(self, path: str, calls: int, **headers: str) -> float:
        """Median milliseconds of ``calls`` GETs of a path."""
        return median_ms([self.get(path, **headers).seconds for _ in range(calls)])


def median_ms(seconds: Sequence[float]) -> float:
    """Median of durations, in milliseconds."""
    return statistics.median(seconds) * 1000


# --- load with wrk (or the project's load generator) ----------------------------------------

_WRK_SCRIPT = """
sent = 0
local threads = {}
wrk.method = "%(method)s"
%(setup)s
function setup(thread) table.insert(threads, thread) end
function request() sent = sent + 1; return wrk.format() end
function done(summary, latency, requests)
  local total_sent = 0
  for _, t in ipairs(threads) do total_sent = total_sent + t:get("sent") end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %%d, "duration_us": %%d, "status_errors": %%d, "connect": %%d, ' ..
    '"read": %%d, "write": %%d, "timeout": %%d, "sent": %%d, "p50_ms": %%.3f, ' ..
    '"p99_ms": %%.3f}\\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    total_sent, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


@dataclass(frozen=True)
class LoadRun:
    """What a load run measured: answers per second and how many were 2xx/3xx or not."""

    tool: str
    rps: float
    answered: int
    ok: int
    failed: int
    sent: int
    p50_ms: float
    p99_ms: float


def load(
    url: str,
    *,
    connections: int,
    seconds: float,
    scratch: Path,
    method: str = "GET",
    body: str | None = None,
    headers: dict[str, str] | None = None,
) -> LoadRun:
    """Load a URL with ``wrk -t1 -c<connections>``; without wrk, with ``usagelens.loadgen``."""
    headers = headers or {}
    wrk = shutil.which("wrk")
    if wrk is None:
        say(f"  wrk is not installed (Debian package `wrk`): {url} with usagelens.loadgen")
        return burst(
            url, count=2000, connections=connections, method=method, body=body, headers=headers
        )
    setup = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items())
    if body is not None:
        setup += f"wrk.body = [[{body}]]\n"
    script = scratch / f"wrk-{uuid.uuid4().hex[:8]}.lua"
    script.write_text(_WRK_SCRIPT % {"method": method, "setup": setup})
    command = [wrk, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s"]
    done = subprocess.run(
        [*command, "-s", str(script), url], capture_output=True, text=True, check=False
    )
    match = re.search(r"^WRK_JSON (.*)$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or match is None:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stdout}{done.stderr}")
    report: dict[str, Any] = json.loads(match.group(1))
    errors = sum(report[k] for k in ("connect", "read", "write", "timeout"))
    answered = report["requests"]
    return LoadRun(
        tool="wrk -t1",
        rps=answered / (report["duration_us"] / 1e6),
        answered=answered,
        ok=answered - report["status_errors"],
        failed=report["status_errors"] + errors,
        sent=report["sent"],
        p50_ms=report["p50_ms"],
        p99_ms=report["p99_ms"],
    )


def burst(
    url: str,
    *,
    count: int,
    connections: int,
    method: str = "GET",
    body: str | None = None,
    headers: dict[str, str] | None = None,
) -> LoadRun:
    """Send exactly ``count`` requests, ``connections`` at once, and wait for every answer
    (``usagelens.loadgen.run_load``): the fallback without wrk, and exact counting checks.
    """
    import asyncio

    from usagelens.loadgen import Request, run_load

    request = Request(
        url, method, headers=list((headers or {}).items()), content=(body or "").encode()
    )
    summary = asyncio.run(run_load(request, count=count, concurrency=connections))
    ok = sum(1 for a in summary.answers if a.status is not None and a.status < 400)
    return LoadRun(
        tool="usagelens.loadgen",
        rps=summary.throughput,
        answered=len(summary.answers),
        ok=ok,
        failed=len(summary.answers) - ok,
        sent=len(summary.answers),
        p50_ms=summary.latency(0.5) * 1000,
        p99_ms=summary.latency(0.99) * 1000,
    )


# --- figures ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """A figure of the benchmark: JSON key, label, unit and, maybe, the issue's target."""

    key: str
    label: str
    unit: str = ""
    target: tuple[str, float] | None = None

    def target_text(self) -> str:
        """The target as printed, e.g. ``≥ 1×``."""
        if self.target is None:
            return ""
        op, bound = self.target
        if self.unit == "" and op == "==":
            return "yes"
        return f"{op.replace('>=', '≥').replace('<=', '≤')} {fmt(bound, self.unit)}"

    def holds(self, value: object) -> bool | None:
        """Whether a value meets the target (None: no target or no value)."""
        if self.target is None or value is None:
            return None
        op, bound = self.target
        assert isinstance(value, int | float)
        return {"<=": value <= bound, ">=": value >= bound, "==": value == bound}[op]


def announce(figures: Sequence[Figure], key: str, value: object) -> None:
    """Print one figure as it is measured; a sub-row (indented label) names its parent."""
    index = next(i for i, f in enumerate(figures) if f.key == key)
    label = figures[index].label
    if label.startswith(" "):
        parent = next(f.label for f in reversed(figures[:index]) if not f.label[0].isspace())
        label = f"{parent.split(',')[0]}: {label.strip()}"
    say(f"  {label:<62} {fmt(value, figures[index].unit)}")


# --- output -------------------------------------------------------------------------------


def say(message: str) -> None:
    """Print a progress line at once."""
    print(message, flush=True)


def fmt(value: object, unit: str) -> str:
    """Render a figure with its unit; ``None`` is a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, str):
        return value
    assert isinstance(value, int | float)
    if unit == "×":
        return f"{value:.2f}×" if value < 10 else f"{value:,.0f}×"
    if unit == "MB":  # the value is in bytes
        return f"{value / 1e6:,.1f} MB" if value >= 1e6 else f"{value / 1e3:,.1f} kB"
    if unit in ("ms", "s") and value < 10:
        return f"{value:.2f} {unit}"
    return f"{value:,.0f} {unit}".strip()


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print rows under headers, columns padded; the first column left-aligned."""
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        first, *rest = cells
        padded = [first.ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(rest, widths[1:], strict=True)
        ]
        return "  ".join(padded).rstrip()

    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))
    sys.stdout.flush()


def write_json(name: str, document: dict[str, Any]) -> list[Path]:
    """Write ``results/<name>.json`` and a timestamped copy; return both paths."""
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n"
    paths = [RESULTS / f"{name}.json", RESULTS / f"{name}-{stamp}.json"]
    for path in paths:
        path.write_text(text)
    return paths


def describe_server(python: str) -> dict[str, str]:
    """The server interpreter's Python, usagelens version and git commit (if a checkout)."""
    probe = (
        "import sys, importlib.metadata as m, usagelens;"
        "print(sys.version.split()[0]); print(m.version('usagelens')); print(usagelens.__file__)"
    )
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"{python} cannot import usagelens: {done.stderr.strip()}")
    version, package, source = done.stdout.split("\n")[:3]
    info = {"python": python, "python_version": version, "usagelens": package, "source": source}
    where = str(Path(source).parent)
    commit = _git(where, "rev-parse", "--short", "HEAD")
    if commit:
        dirty = _git(where, "--no-optional-locks", "status", "--porcelain", "--untracked-files=no")
        info["commit"] = commit + ("+dirty" if dirty else "")
        info["checkout"] = _git(where, "rev-parse", "--show-toplevel")
    return info


def _git(where: str, *args: str) -> str:
    """Read-only git query; empty when not a checkout."""
    done = subprocess.run(["git", "-C", where, *args], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else ""


def machine() -> dict[str, Any]:
    """The host the figures come from."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    wrk = shutil.which("wrk")
    wrk_version = ""
    if wrk:
        done = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
        wrk_version = (done.stdout + done.stderr).split(" Copyright")[0].strip()
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "platform": platform.platform(),
        "benchmark_python": sys.version.split()[0],
        "wrk": wrk_version or "missing",
    }


# --- a run ---------------------------------------------------------------------------------


@dataclass
class Session:
    """One benchmark run: the server's interpreter, a scratch directory, every server started."""

    python: str
    scratch: Path
    servers: list[Server] = field(default_factory=list)
    started: tuple[float, ...] = field(default_factory=lambda: _cpu_clocks())

    def others_cpu(self) -> dict[str, float]:
        """CPU the machine spent outside this run (its servers, wrk and the local PostgreSQL
        are this run's) since it began: other work running beside the benchmark disturbs its
        figures. Call it once every server has stopped.
        """
        clocks = zip(_cpu_clocks(), self.started, strict=True)
        wall, busy, own, postgres = (now - then for now, then in clocks)
        others = max(0.0, busy - own - postgres)
        share = others / (wall * (os.cpu_count() or 1))
        if share > 0.1:
            say(
                f"warning: other processes used {share:.0%} of this machine's CPU during the "
                "run; the figures may be disturbed"
            )
        return {
            "wall_s": round(wall, 1),
            "others_cpu_s": round(others, 1),
            "postgres_cpu_s": round(postgres, 1),
            "share": round(share, 3),
        }

    @contextmanager
    def store(
        self, backend: Backend, label: str, *, workers: int = 2, max_body_bytes: int = 64 * MIB
    ) -> Iterator[Api]:
        """A fresh database of the backend, served by a new server; yield a client of it."""
        with backend.database(label) as url:
            server = Server(self.python, url, self.scratch, workers, max_body_bytes)
            self.servers.append(server)
            with server:
                api = Api(server)
                try:
                    yield api
                finally:
                    api.close()


def _cpu_clocks() -> tuple[float, ...]:
    """Wall time, the machine's busy CPU seconds, this process's (with waited children), and
    the local PostgreSQL's (the postmaster with its reaped and live backends).
    """
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    tick = os.sysconf("SC_CLK_TCK")
    busy = (user + nice + system + irq + softirq + steal) / tick
    own = os.times()
    mine = own.user + own.system + own.children_user + own.children_system
    processes = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, rest = stat.read_text().split(" (", 1)[1].rsplit(") ", 1)
        except (OSError, ValueError):
            continue
        if name == "postgres":
            processes[stat.parent.name] = rest.split()  # state, ppid, …, utime is [11]
    postgres = 0
    for values in processes.values():
        postgres += int(values[11]) + int(values[12])
        if values[1] not in processes:  # the postmaster: add its reaped backends
            postgres += int(values[13]) + int(values[14])
    return time.monotonic(), busy, mine, postgres / tick


def run_session(python: str, work: Callable[[Session], int]) -> int:
    """Run a benchmark in a scratch directory; on a server failure, print the logs' tails."""
    with tempfile.TemporaryDirectory(prefix="usagelens-bench-") as scratch:
        session = Session(python, Path(scratch))
        try:
            return work(session)
        except BenchError as error:
            print(f"\nbenchmark failed: {error}", file=sys.stderr)
            for server in session.servers:
                print(f"\n--- log tail of the server on port {server.port} ---", file=sys.stderr)
                print(server.log_tail(), file=sys.stderr)
            return 1
