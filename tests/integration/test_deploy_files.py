"""The deploy files the repository ships: the systemd unit passes ``systemd-analyze
verify``, the environment file holds no inline comment and only known settings, and a
token that looks like an inline comment kept in its value is a warning at start-up."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import InProcessClient, missing_server

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNIT = DEPLOY / "usagelens.service"
ENV = DEPLOY / "usagelens.env.example"


def _assignments() -> dict[str, str]:
    found = {}
    for number, line in enumerate(ENV.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        assert re.fullmatch(r"USAGELENS_[A-Z_]+=\S*", line), f"line {number}: {line!r}"
        assert "#" not in line, f"line {number} has an inline comment: {line!r}"
        key, _, value = line.partition("=")
        found[key] = value
    return found


def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        missing_server("systemd-analyze not installed (Debian package systemd)")
    # verify checks that ExecStart and EnvironmentFile exist: point them at this checkout's.
    program = Path(sys.executable).with_name("usagelens")
    env = tmp_path / "usagelens.env"
    env.write_text(ENV.read_text(encoding="utf-8"), encoding="utf-8")
    text = UNIT.read_text(encoding="utf-8")
    assert "/var/lib/usagelens/venv/bin/usagelens serve" in text
    assert "EnvironmentFile=/etc/usagelens/usagelens.env" in text
    local = tmp_path / "usagelens.service"
    local.write_text(
        text.replace("/var/lib/usagelens/venv/bin/usagelens", str(program)).replace(
            "/etc/usagelens/usagelens.env", str(env)
        ),
        encoding="utf-8",
    )
    done = subprocess.run(
        [analyze, "verify", str(local)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr  # no unknown key, no warning

    broken = tmp_path / "broken.service"
    broken.write_text(text.replace("Restart=on-failure", "Restartt=on-failure"), encoding="utf-8")
    said = subprocess.run([analyze, "verify", str(broken)], capture_output=True, text=True)
    assert "Unknown key" in said.stderr  # the check would see a typo


def test_the_environment_file_names_known_settings_without_inline_comments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from usagelens.config import load_settings

    values = _assignments()
    assert {"USAGELENS_API_TOKEN", "USAGELENS_DATABASE_URL"} <= set(values)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    assert settings.tokens == (values["USAGELENS_API_TOKEN"],)
    assert settings.token_warnings() == []
    assert settings.database_url == values["USAGELENS_DATABASE_URL"]


def test_a_token_with_an_inline_comment_is_a_warning_at_start_up(
    app_client, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    with caplog.at_level(logging.WARNING, logger="usagelens.api"):
        api: InProcessClient = app_client(api_token="s3cret   # writes need it")
    warned = [r.getMessage() for r in caplog.records if r.name == "usagelens.api"]
    assert any("holds whitespace or '#'" in m for m in warned), warned
    assert not any("s3cret" in m for m in warned)  # the token itself is never logged
    refused = api.put("/api/v1/prices", content=b"values: {}\n", headers={"X-Auth-Token": "s3cret"})
    assert refused.status_code == 401  # what the warning is about

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="usagelens.api"):
        app_client(api_token="s3cret")
    assert not [r for r in caplog.records if "holds whitespace" in r.getMessage()]
