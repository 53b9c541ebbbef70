"""The demo, as a user runs it: the whole pipeline on embedded defaults (real
``python -m usagelens`` processes), and the README's local commands (run in process)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port, run_cli


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

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env=env_db)

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


def test_cli_policy_rebuild_and_prune(tmp_path: Path) -> None:
    """A policy file that disagrees with the store is refused until rebuild; prune works."""
    import json

    data = Path(__file__).parents[1] / "data"
    policy = tmp_path / "policy.yaml"
    policy.write_text("intensity: {low: 50, medium: 70, high: 95}\n")
    url = f"sqlite:///{tmp_path / 'cli.db'}"

    def run(*args: str, policy_file: Path | None = None) -> subprocess.CompletedProcess[str]:
        env = {
            "USAGELENS_DATABASE_URL": url,
            "USAGELENS_POLICY_FILE": policy_file and str(policy_file),
        }
        return run_cli(*args, env=env)

    assert run("ingest", str(data / "summary_1.txt")).returncode == 0
    refused = run("report", "--format", "json", policy_file=policy)
    assert refused.returncode == 1
    assert "usagelens rebuild" in refused.stderr and "Traceback" not in refused.stderr
    rebuilt = run("rebuild", policy_file=policy)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "rebuilt 120 series from 24000 observations" in rebuilt.stderr
    strict = json.loads(run("report", "--format", "json").stdout)  # follows the stored policy
    assert strict["decisions"]["delete"] > 34
    pruned = run("prune", "--older-than", "1h")  # the sample is from 2026-11: all of it goes
    assert pruned.returncode == 0, pruned.stderr
    assert "pruned 24000 observations" in pruned.stderr
    assert json.loads(run("report", "--format", "json").stdout)["teams"] == []
    assert run("prune").returncode == 2  # no --older-than and no USAGELENS_RETENTION


def test_demo_prints_the_dashboard_first_and_serves_it(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "usagelens", "demo", "--port", str(port),
             "--database", f"sqlite:///{tmp_path / 'demo.db'}"],
            stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path,
            env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            page = None
            while time.monotonic() < deadline and demo.poll() is None:
                try:
                    page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
                    break
                except httpx.HTTPError:
                    time.sleep(0.5)
            assert page is not None and page.status_code == 200, log.read_text()
            total = httpx.get(f"http://127.0.0.1:{port}/api/v1/costs/total").json()["total"]
            assert f"{total:,.2f}" in page.text
        finally:
            demo.terminate()
            demo.wait(timeout=30)
    first = log.read_text().splitlines()[0]
    assert first.startswith(f"Dashboard: http://127.0.0.1:{port}/"), first
