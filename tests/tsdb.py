"""Real time-series databases for the PromQL source tests: Prometheus (Debian package
prometheus, data written at exact times with promtool's backfill) and VictoriaMetrics
(Debian package victoria-metrics, data sent to its import API), each on a free port."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests import independent
from tests.conftest import free_port, missing_server

Sample = tuple[str, str, str, datetime, float]
"""(team, resource, dimension, collected_at, usage)."""


def sample_series(summary: str) -> list[Sample]:
    """Return a usage summary's readings as samples, read without usagelens."""
    return [
        (team, resource, dimension, datetime.fromisoformat(moment).replace(tzinfo=UTC), usage)
        for (team, resource, dimension), by_time in independent.parse(summary).items()
        for moment, usage in by_time.items()
    ]


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _lines(samples: Iterable[Sample], scale: float) -> list[str]:
    """Exposition lines ``usage{team,resource,dimension} value timestamp``."""
    return [
        f'usage{{team="{_label(t)}",resource="{_label(r)}",dimension="{d}"}} '
        f"{u:g} {at.timestamp() * scale:.0f}"
        for t, r, d, at, u in samples
    ]


def installed(command: str, package: str) -> str:
    """Return a server binary's path; skip (fail under CI=true) when it is not installed."""
    path = shutil.which(command)
    if path is None:
        missing_server(f"{command} not installed (Debian package '{package}')")
    return str(path)


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    """Wait until a server process answers 200 at ``url``; raise with its log's tail if it
    exits or takes longer than ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not get ready in {timeout} s: {log.read_text()[-2000:]}")


class Prometheus:
    """A Prometheus server of the test's own; samples are backfilled while it is stopped."""

    def __init__(self, folder: Path, config: str = "global:\n  scrape_interval: 15s\n") -> None:
        self.binary = installed("prometheus", "prometheus")
        self.promtool = installed("promtool", "prometheus")
        self.folder = folder
        self.data = folder / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        (folder / "prometheus.yml").write_text(config)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.source = f"prometheus+{self.url}"
        self._process: subprocess.Popen[bytes] | None = None
        self._batches = 0

    def add(self, samples: Iterable[Sample]) -> None:
        """Write samples at their exact times (restarting the server around the backfill)."""
        running = self._process is not None
        self.stop()
        self._batches += 1
        openmetrics = self.folder / f"batch-{self._batches}.om"
        openmetrics.write_text(
            "\n".join(["# TYPE usage gauge", *_lines(samples, 1), "# EOF"]) + "\n"
        )
        subprocess.run(
            [self.promtool, "tsdb", "create-blocks-from", "openmetrics", str(openmetrics),
             str(self.data)],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        if running:
            self.start()

    def start(self) -> None:
        """Start the server on its port (data kept for ten years: nothing ages out)."""
        self._log = (self.folder / "prometheus.log").open("ab")
        self._process = subprocess.Popen(
            [self.binary, f"--config.file={self.folder / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.data}", "--storage.tsdb.retention.time=10y",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_ready(self.url + "/-/ready", self._process, self.folder / "prometheus.log")

    def stop(self) -> None:
        """Stop the server, if it runs."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=30)
            self._process = None
            self._log.close()


class VictoriaMetrics:
    """A single-node VictoriaMetrics of the test's own; samples go to its import API."""

    def __init__(self, folder: Path) -> None:
        self.binary = installed("victoria-metrics", "victoria-metrics")
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.source = f"prometheus+{self.url}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server (retention of a hundred years: nothing ages out)."""
        self._log = (self.folder / "victoria-metrics.log").open("ab")
        self._process = subprocess.Popen(
            [self.binary, f"-storageDataPath={self.folder / 'vm-data'}", "-retentionPeriod=100y",
             f"-httpListenAddr=127.0.0.1:{self.port}", "-search.disableCache",
             "-search.maxStalenessInterval=5m",  # Prometheus's lookback: no step past the last sample
             "-loggerLevel=ERROR"],
            stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_ready(self.url + "/health", self._process, self.folder / "victoria-metrics.log")

    def add(self, samples: Iterable[Sample]) -> None:
        """Import samples at their exact times and make them searchable at once."""
        body = "\n".join(_lines(samples, 1000)) + "\n"  # milliseconds
        httpx.post(
            self.url + "/api/v1/import/prometheus", content=body, timeout=120
        ).raise_for_status()
        httpx.get(self.url + "/internal/force_flush", timeout=60).raise_for_status()

    def stop(self) -> None:
        """Stop the server."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=30)
            self._process = None
            self._log.close()
