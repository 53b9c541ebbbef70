"""``make bench`` (its PromQL part): pull 5,040 series × 200 hours from a local
VictoriaMetrics, next to ingesting the same observations as summaries over HTTP.

Both land in a fresh server (SQLite, two workers): the summaries as 42 course-sized POSTs,
the pull as ``usagelens collect --url`` of ``prometheus+http://`` (VictoriaMetrics answers
``/api/v1/query_range``, usagelens stores each chunk as a batch). Prints observations per
second of both, their ratio (target: the pull costs at most 2× the summary ingest) and
the pull's peak RSS (target: ≤ 300 MB, however long the gap: the pull goes in chunks).
Needs Debian's ``victoria-metrics``.

    python benchmarks/promql.py [--series 5040] [--python OTHER/.venv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from harness import TOKEN, Server, free_port, say
from workload import END, branch_summary, branches_for

from usagelens.simulator.data import HOURS, company


def main() -> int:
    """Run the PromQL pull against summary ingest; print the figures."""
    args = options()
    binary = shutil.which("victoria-metrics")
    if binary is None:
        say("skipped: victoria-metrics is not installed (Debian package victoria-metrics)")
        return 0
    branches = branches_for(args.series)
    scratch = Path(tempfile.mkdtemp(prefix="usagelens-bench-promql-"))
    try:
        with VictoriaMetrics(binary, scratch) as vm:
            say(f"loading {len(branches) * 120} series × {HOURS} hours into VictoriaMetrics")
            vm.load(branches)
            summary_seconds, observations = ingest_summaries(args.python, scratch, branches)
            mapping = write_mapping(scratch)
            refresh_seconds, refreshed = refresh(args.python, scratch, vm.url, mapping)
            pull_seconds, pulled, peak = collect(args.python, scratch, vm.url, mapping)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    rows = [
        (
            "observations (summaries, refresh, collect)",
            f"{observations:,} / {refreshed:,} / {pulled:,}",
            "",
        ),
        ("summaries over HTTP", _rate(observations, summary_seconds), ""),
        ("PromQL pull by the server (webhook)", _rate(refreshed, refresh_seconds), ""),
        ("  pull ÷ summary ingest, in time", f"{refresh_seconds / summary_seconds:.2f}×", "≤ 2×"),
        ("PromQL pull by collect --url (a process)", _rate(pulled, pull_seconds), ""),
        ("  ÷ summary ingest, in time", f"{pull_seconds / summary_seconds:.2f}×", ""),
        ("  collect's peak RSS", f"{peak / 2**20:.0f} MB", "≤ 300 MB"),
    ]
    for name, value, target in rows:
        print(f"{name:<42} {value:>34}   {target}")
    return 0 if observations == refreshed == pulled else 1


def _rate(observations: int, seconds: float) -> str:
    return f"{observations / seconds:,.0f} obs/s ({seconds:.2f} s)"


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--series", type=int, default=5040)
    parser.add_argument("--python", default=sys.executable, help="the usagelens to measure")
    return parser.parse_args()


class VictoriaMetrics:
    """A VictoriaMetrics of the benchmark's own."""

    def __init__(self, binary: str, scratch: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._command = [
            binary, f"-storageDataPath={scratch / 'vm'}", "-retentionPeriod=100y",
            f"-httpListenAddr=127.0.0.1:{self.port}", "-search.maxStalenessInterval=5m",
            "-loggerLevel=ERROR",
        ]  # fmt: skip
        self._log = (scratch / "vm.log").open("wb")
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> VictoriaMetrics:
        self._process = subprocess.Popen(self._command, stdout=self._log, stderr=self._log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("VictoriaMetrics did not start")

    def __exit__(self, *_: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=30)
        self._log.close()

    def load(self, branches: range) -> None:
        """Import every branch's 200 hours with labels team, resource, dimension."""
        with httpx.Client(timeout=300) as client:
            for branch in branches:
                lines = [
                    f'usage{{team="{o.team}",resource="{o.resource}",dimension="{o.dimension}"}}'
                    f" {o.usage:g} {int(o.collected_at.timestamp() * 1000)}"
                    for o in company(branch).observations(END)
                ]
                client.post(
                    self.url + "/api/v1/import/prometheus", content="\n".join(lines)
                ).raise_for_status()
            client.get(self.url + "/internal/force_flush").raise_for_status()


def ingest_summaries(python: str, scratch: Path, branches: range) -> tuple[float, int]:
    """POST every branch's summary to a fresh server; return seconds and observations."""
    payloads = [branch_summary(b) for b in branches]
    with Server(python, f"sqlite:///{scratch / 'summaries.db'}", scratch) as server:
        headers = {"X-Auth-Token": TOKEN, "Content-Type": "text/plain"}
        started = time.perf_counter()
        observations = 0
        with httpx.Client(base_url=server.base_url, timeout=300) as client:
            for payload in payloads:
                answer = client.post("/api/v1/usage", content=payload, headers=headers)
                answer.raise_for_status()
                observations += answer.json()["observations"]
        return time.perf_counter() - started, observations


def write_mapping(scratch: Path) -> Path:
    """The mapping of the benchmark's labels, reaching back over the whole history."""
    mapping = scratch / "promql.yaml"
    lookback = int((time.time() - END.timestamp()) + (HOURS + 48) * 3600)
    queries = {d: f'usage{{dimension="{d}"}}' for d in ("CPU", "RAM", "NetFlow")}
    mapping.write_text(json.dumps({
        "step": "1h", "lookback": f"{lookback}s", "team_label": "team",
        "resource_label": "resource", "queries": queries,
    }))  # fmt: skip
    return mapping


def refresh(python: str, scratch: Path, vm_url: str, mapping: Path) -> tuple[float, int]:
    """Have a fresh server pull the whole history (the refresh webhook); return seconds
    and observations stored."""
    settings = {
        "USAGELENS_SOURCES": f"prometheus+{vm_url}",
        "USAGELENS_PROMQL_FILE": str(mapping),
        "USAGELENS_SOURCE_TIMEOUT": "300",
    }
    url = f"sqlite:///{scratch / 'refreshed.db'}"
    with Server(python, url, scratch, extra_env=settings) as server:
        started = time.perf_counter()
        answer = httpx.post(
            server.base_url + "/api/v1/webhooks/refresh",
            headers={"X-Auth-Token": TOKEN},
            timeout=900,
        )
        seconds = time.perf_counter() - started
        answer.raise_for_status()
        return seconds, _stored(server.base_url)


def collect(python: str, scratch: Path, vm_url: str, mapping: Path) -> tuple[float, int, int]:
    """``collect --url`` the whole history into a fresh server; return seconds,
    observations and the collect process's peak RSS (bytes)."""
    with Server(python, f"sqlite:///{scratch / 'pulled.db'}", scratch) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("USAGELENS_")}
        env |= {
            "USAGELENS_API_TOKEN": TOKEN,
            "USAGELENS_PROMQL_FILE": str(mapping),
            "USAGELENS_SOURCE_TIMEOUT": "300",
            "USAGELENS_DATABASE_URL": f"sqlite:///{scratch / 'unused.db'}",
        }
        started = time.perf_counter()
        process = subprocess.Popen(
            [python, "-m", "usagelens", "collect", "--source", f"prometheus+{vm_url}",
             "--url", server.base_url],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        peak = 0
        while process.poll() is None:
            peak = max(peak, _peak_rss(process.pid))
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        _, stderr = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"collect failed: {stderr}")
        say(stderr.strip().splitlines()[0])
        return seconds, _stored(server.base_url), peak


def _peak_rss(pid: int) -> int:
    """A process's peak resident memory so far (VmHWM), in bytes (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _stored(base_url: str) -> int:
    """How many observations a server's rows count, read page by page."""
    total, offset = 0, 0
    with httpx.Client(base_url=base_url, timeout=120) as client:
        while True:
            page = client.get("/api/v1/resources", params={"limit": 10000, "offset": offset})
            items = page.json()["items"]
            total += sum(row["count"] for row in items)
            offset += len(items)
            if not items or offset >= page.json()["total"]:
                return total


if __name__ == "__main__":
    sys.exit(main())
