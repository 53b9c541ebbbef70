"""Configuration and usage mistakes end in one line naming the setting, never a traceback."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from usagelens import __version__
from usagelens.sources.urls import SOURCE_FORMS


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"COLUMNS": "200", **(env or {})})


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://nobody:hunter2@127.0.0.1:1/x", "cannot open the database"),
        ("bogus://somewhere", "not a database URL"),
        ("sqlite:////nonexistent/dir/x.db", "cannot open the database"),
    ],
)
def test_a_bad_database_url_is_one_line_naming_the_setting(url: str, message: str) -> None:
    done = _run("report", env={"USAGELENS_DATABASE_URL": url})
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: USAGELENS_DATABASE_URL=") and message in lines[0]
    assert "hunter2" not in done.stderr and "Traceback" not in done.stderr


def test_a_misspelt_config_key_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    config = tmp_path / "usagelens.yaml"
    config.write_text(f"databse_url: sqlite:///{tmp_path / 'x.db'}\n")
    done = _run("report", env={"USAGELENS_CONFIG_FILE": str(config)})
    assert done.returncode == 1
    assert "unknown setting 'databse_url' (did you mean database_url?)" in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_policy_file_is_one_line(tmp_path: Path) -> None:
    env = {
        "USAGELENS_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "USAGELENS_POLICY_FILE": str(tmp_path / "nope.yaml"),
    }
    done = _run("report", env=env)
    assert done.returncode == 1
    assert "USAGELENS_POLICY_FILE=" in done.stderr and "cannot read it" in done.stderr
    assert "Traceback" not in done.stderr


def test_report_windows_read_like_the_api(tmp_path: Path, sample_summary: bytes) -> None:
    env = {"USAGELENS_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    summary = tmp_path / "s.txt"
    summary.write_bytes(sample_summary)
    assert _run("ingest", str(summary), env=env).returncode == 0
    for since in ("2026-03-01", "2026-03-01 00:00:00", "2026-03-01T00:00:00Z"):
        done = _run("report", "--format", "json", "--since", since, env=env)
        assert done.returncode == 0, (since, done.stderr)
    reversed_window = _run("report", "--since", "2026-11-27", "--until", "2026-11-01", env=env)
    assert reversed_window.returncode == 2
    assert "--since (2026-11-27 00:00:00) must be before --until" in reversed_window.stderr
    bad = _run("report", "--since", "yesterday", env=env)
    assert bad.returncode == 2 and "--since 'yesterday' is not a time" in bad.stderr
    assert "collected_at" not in bad.stderr


def test_version() -> None:
    done = _run("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"usagelens {__version__}"


def test_every_command_help_shows_an_example(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import typer.main

    from usagelens.cli import app, main

    root: Any = typer.main.get_command(app)
    commands = []
    for name, command in root.commands.items():
        if hasattr(command, "commands"):  # a group: each of its commands
            commands += [f"{name} {sub}" for sub in command.commands]
        else:
            commands.append(name)
    assert len(commands) >= 12 and "recommendations dismiss" in commands
    monkeypatch.setenv("COLUMNS", "200")
    for command in commands:  # in this process: a process per command adds nothing here
        with pytest.raises(SystemExit) as caught:
            main([*command.split(), "--help"])
        out, err = capsys.readouterr()
        assert caught.value.code in (0, None), (command, err)
        assert "Example" in out, command
        # what to write, not Python's types: WHEN, FILE, N; nothing after a flag
        assert not re.search(r"<(str|int|float|bool|path|list\[)", out), command
    assert _run("--help").returncode == 0  # and once as the real entry point


def test_help_names_the_setting_behind_a_default() -> None:
    done = _run("collect", "--help", env={"USAGELENS_SOURCES": "http://127.0.0.1:9"})
    text = " ".join(done.stdout.replace("│", " ").split())
    assert "default from USAGELENS_SOURCES (now http://127.0.0.1:9)" in text
    assert "default from USAGELENS_BRANCHES (not set: 1)" in text


def test_help_sees_the_config_file_too(tmp_path: Path) -> None:
    config = tmp_path / "usagelens.yaml"
    config.write_text("branches: [3, 4]\nretention: 90d\n")
    env = {"USAGELENS_CONFIG_FILE": str(config)}
    collect = " ".join(_run("collect", "--help", env=env).stdout.replace("│", " ").split())
    prune = " ".join(_run("prune", "--help", env=env).stdout.replace("│", " ").split())
    assert "default from USAGELENS_BRANCHES (now 3,4)" in collect
    assert "default from USAGELENS_RETENTION (now 90d)" in prune


def test_shell_completion_script() -> None:
    # Typer takes the shell from the process tree (shellingham) and ignores the argument;
    # under a parent that is no shell the detection fails ("Shell  not supported"), so the
    # test asks Typer, by its own switch for tests, to take the shell named.
    done = _run(
        "--show-completion", "bash", env={"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    )
    assert done.returncode == 0 and "_usagelens_completion" in done.stdout


def test_report_json_and_quiet(tmp_path: Path, sample_summary: bytes) -> None:
    env = {"USAGELENS_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    summary = tmp_path / "s.txt"
    summary.write_bytes(sample_summary)
    assert _run("ingest", str(summary), env=env).returncode == 0
    by_flag = _run("report", "--json", env=env)
    by_format = _run("report", "--format", "json", env=env)
    assert by_flag.returncode == 0
    flag, form = json.loads(by_flag.stdout), json.loads(by_format.stdout)
    flag.pop("generated_at", None), form.pop("generated_at", None)
    assert flag == form and sum(flag["decisions"].values()) == 120
    out = tmp_path / "r.txt"
    quiet = _run("report", "-o", str(out), "--quiet", env=env)
    assert quiet.returncode == 0 and quiet.stderr == "" and out.read_text().startswith("usagelens")


STORE_COMMANDS = [
    ["report"],
    ["prices"],
    ["ingest", "{summary}"],
    ["export"],
    ["import", "{export}"],
    ["rebuild"],
    ["prune", "--older-than", "90d"],
    ["policy", "diff", "{policy}"],
    ["migrate"],
    ["collect", "--source", "http://127.0.0.1:9"],
    ["serve", "--port", "9"],
]
"""Every command that opens the store, with arguments it accepts."""


@pytest.fixture
def command_files(tmp_path: Path, sample_summary: bytes) -> dict[str, str]:
    (tmp_path / "summary.txt").write_bytes(sample_summary)
    (tmp_path / "export.json").write_text(json.dumps({"usagelens_export": 1}))
    (tmp_path / "policy.yaml").write_text("intensity: {low: 40}\n")
    return {name: str(tmp_path / f"{name}.{ext}") for name, ext in
            (("summary", "txt"), ("export", "json"), ("policy", "yaml"))}  # fmt: skip


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////nonexistent/dir/x.db",
        pytest.param("postgresql://postgres@127.0.0.1:9/away", id="postgresql-away"),
        "mysql://root@127.0.0.1/test",
    ],
)
@pytest.mark.parametrize(
    "command", STORE_COMMANDS, ids=lambda c: c[0] + (c[1] if c[0] == "policy" else "")
)
def test_every_command_on_a_store_that_is_away_ends_in_one_line(
    command: list[str], url: str, command_files: dict[str, str]
) -> None:
    args = [part.format(**command_files) for part in command]
    result = run_cli(*args, env={"USAGELENS_DATABASE_URL": url})
    code, stderr = result.returncode, result.stderr
    assert code == 1, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith("error: USAGELENS_DATABASE_URL=") and "Traceback" not in stderr


@pytest.mark.parametrize(
    "command", [["prices", "--origin", "x" * 600], ["prices", "--drop", "a\x01b"]]
)
def test_a_value_the_store_would_refuse_is_one_line_on_both_backends(
    command: list[str], database_url: str
) -> None:
    result = run_cli(*command, env={"USAGELENS_DATABASE_URL": database_url})
    code, stderr = result.returncode, result.stderr
    assert code == 1, stderr
    (line,) = stderr.strip().splitlines()
    assert line.startswith("error: origin ") and "Traceback" not in stderr


FORMS = f"use {SOURCE_FORMS}"


@pytest.mark.parametrize("where", ["option", "setting"])
def test_a_source_without_a_scheme_is_refused_before_any_connection(
    tmp_path: Path, where: str
) -> None:
    with socket.socket() as listener:  # a port that would notice a connection attempt
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        bare = f"127.0.0.1:{listener.getsockname()[1]}"
        env = {"USAGELENS_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
        if where == "option":
            args = ["collect", "--source", bare, "--retries", "3"]
        else:
            args, env["USAGELENS_SOURCES"] = ["collect", "--retries", "3"], bare
        started = time.monotonic()
        done = _run(*args, env=env)
        took = time.monotonic() - started
        with pytest.raises(BlockingIOError):
            listener.accept()
    # A usage mistake on the command line is 2; an invalid setting, like every other, is 1.
    assert done.returncode == (2 if where == "option" else 1)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    named = "--source" if where == "option" else "invalid configuration: USAGELENS_SOURCES: source"
    assert lines[0] == f"error: {named} '{bare}' has no scheme: {FORMS}"
    assert "unreachable" not in done.stderr and done.stdout == ""
    assert took < 10, took  # no tries, no backoff: one process start
    assert not (tmp_path / "x.db").exists()


def test_an_overlong_or_garbled_source_is_refused_in_one_line(tmp_path: Path) -> None:
    env = {"USAGELENS_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    for url, why in [
        ("http://mon-a:1/" + "p" * 600, "is longer than 500 characters (615)"),
        ("http://mon-a:1/\x1b[2J", "holds spaces or control characters"),
    ]:
        done = _run("collect", "--source", url, env=env)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and why in lines[0] and lines[0].endswith(FORMS), done.stderr
        assert "\x1b" not in done.stderr
