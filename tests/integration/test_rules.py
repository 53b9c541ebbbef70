"""The example Prometheus rules load, and promtool's unit tests fire every alert."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "usagelens-rules.yml"
TESTS = DEPLOY / "usagelens-rules.test.yml"


def _promtool(promtool: str, *args: str) -> str:
    done = subprocess.run(
        [promtool, *args], cwd=DEPLOY, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_rules_are_valid(promtool: str) -> None:
    assert "SUCCESS" in _promtool(promtool, "check", "rules", RULES.name)


def test_every_alert_is_unit_tested_firing_and_quiet(promtool: str) -> None:
    assert "SUCCESS" in _promtool(promtool, "test", "rules", TESTS.name)
    alerts = {
        rule["alert"]
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    cases = [
        case
        for test in yaml.safe_load(TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    firing = {case["alertname"] for case in cases if case["exp_alerts"]}
    quiet = {case["alertname"] for case in cases if not case["exp_alerts"]}
    assert alerts == firing == quiet
