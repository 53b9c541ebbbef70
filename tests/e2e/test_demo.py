"""The demo, as a user runs it: the whole pipeline on embedded defaults."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_no_serve_prints_report_and_money(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "usagelens", "demo", "--no-serve",
         "--database", f"sqlite:///{tmp_path / 'demo.db'}"],
        capture_output=True, text=True, timeout=180, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "ok branch 1: 24000 observations" in result.stderr
    assert result.stdout.count("Team: ") == 4
    assert "Total cost:" in result.stdout and "Money on what is to be deleted" in result.stdout
    assert "Money (RUB)" in result.stdout
    for decision in ("delete", "keep", "extend"):
        assert f" {decision} " in result.stdout


def test_cli_ingest_prices_report_on_a_local_database(tmp_path: Path) -> None:
    data = Path(__file__).parents[1] / "data"
    env_db = {"USAGELENS_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    import os

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "usagelens", *args],
            capture_output=True, text=True, timeout=120, env={**os.environ, **env_db},
        )  # fmt: skip

    ingested = run("ingest", str(data / "summary_1.txt"))
    assert ingested.returncode == 0, ingested.stderr
    assert "24000 inserted" in ingested.stdout
    assert run("prices", str(data / "prices_1.yaml")).returncode == 0
    shown = run("prices")
    assert '"0080":' in shown.stdout
    report = run("report", "--format", "json")
    import json

    assert json.loads(report.stdout)["total"] == 33951
    bad = run("ingest", str(data / "prices_1.yaml"))
    assert bad.returncode == 1 and "team 1" in bad.stderr
