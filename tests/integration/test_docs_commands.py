"""Every ``usagelens`` command that README.md and docs/ show runs as shown.

The commands are read from the shell blocks of the documents, in order, and run one file
after another in a scratch folder holding the files they name (the sample as
``summary.txt``, its prices as ``prices.yaml``, a ``policy.yaml``), on a scratch SQLite
store, exactly as written (a ``> FILE`` redirect writes the file). Synopsis lines
(``[--url URL]``) run with their optional parts left out. A command that serves or reaches
the network (``serve``, ``simulate``, ``collect``, ``load``, ``digest``, ``--url``) is not
started: its words are parsed by the command line itself (every option and value checked)
without running it; the tests that start servers run those. Each must exit 0, or end in the
one-line error the document's placeholder earns (named below), never a traceback.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer

from tests.conftest import missing_server, run_cli

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL = {"sh", "bash", "shell", "console"}
NOT_STARTED = {"serve", "simulate", "collect", "load", "digest"}
"""Commands that serve or reach the network: parsed, not run."""
NAMES_WHAT_IS_NOT_HERE = {
    ("prices", "--drop"): "no price list of origin",  # an old source's list, not in the sample
    ("recommendations", "unexclude"): "no exclusion rule",  # rule 3 of a longer history
}
"""Commands whose placeholder names what the scratch store does not hold: they end in the
one-line error that says so."""
POLICY = "intensity: {low: 45, medium: 65, high: 85}\n"


@dataclass(frozen=True)
class Shown:
    """One command as a document shows it."""

    document: str
    line: int
    env: dict[str, str]
    args: list[str]
    redirect: str | None
    synopsis: bool

    def __str__(self) -> str:
        return f"{self.document}:{self.line}: usagelens {' '.join(self.args)}"


def _shell_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Every command line of a document's shell blocks, continuations joined, with the
    number of its last line."""
    inside: str | None = None
    pending = ""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fence = re.fullmatch(r"```(\w*)", line.strip())
        if fence:
            inside = None if inside is not None else fence[1]
            continue
        if inside not in SHELL:
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        yield number, pending + line
        pending = ""


def _commands(path: Path) -> list[Shown]:
    found: list[Shown] = []
    for number, text in _shell_lines(path):
        if "usagelens" not in text:
            continue
        tokens = shlex.split(text, comments=True)
        at = next((i for i, t in enumerate(tokens) if t.rsplit("/", 1)[-1] == "usagelens"), None)
        if at is None or tokens[0] in ("sudo", "git"):
            continue  # a command for the target host, or no usagelens command
        env = dict(t.split("=", 1) for t in tokens[:at] if "=" in t)
        args = tokens[at + 1 :]
        redirect = None
        if ">" in args:
            redirect = args[args.index(">") + 1]
            args = args[: args.index(">")]
        args = [a for a in args if a != "&"]
        synopsis = any(a.startswith("[") or a.endswith("]") for a in args)
        found.append(Shown(path.name, number, env, _without_optional(args), redirect, synopsis))
    return found


def _without_optional(args: list[str]) -> list[str]:
    """Drop a synopsis' optional parts (``[--url URL]``, ``[--json]``, ``[-H 'N: v' ...]``)."""
    kept, depth = [], 0
    for arg in args:
        opens, closes = arg.startswith("["), arg.endswith("]")
        if opens:
            depth += 1
        if depth == 0:
            kept.append(arg)
        if closes:
            depth -= 1
    return kept


def _every() -> list[Shown]:
    return [shown for document in DOCUMENTS for shown in _commands(document)]


def test_the_documents_show_commands() -> None:
    shown = _every()
    assert len(shown) >= 40
    assert {s.args[0] for s in shown} >= {"ingest", "report", "changes", "policy", "serve"}


def _parse_only(shown: Shown) -> None:
    """Let the command line read the words (options, values, arguments) without running."""
    from usagelens.cli import app

    command: Any = typer.main.get_command(app)
    words = list(shown.args)
    while hasattr(command, "get_command"):  # a group: the next word names a command
        name = words.pop(0)
        sub = command.get_command(
            command.make_context("usagelens", [], resilient_parsing=True), name
        )
        assert sub is not None, f"{shown}: no command {name!r}"
        command = sub
    if any(re.fullmatch(r"[A-Z][A-Z_]*", w) for w in words):
        assert run_cli(*shown.args[: len(shown.args) - len(words)], "--help").returncode == 0
        return  # a synopsis with placeholders (URL, N): the command and its options exist
    context = command.make_context(command.name or "", words, resilient_parsing=False)
    assert context.params, shown  # every word read: an unknown option or a bad value raises


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = ROOT / "tests" / "data"
    (tmp_path / "tests").mkdir()
    shutil.copytree(data, tmp_path / "tests" / "data")
    shutil.copy(data / "summary_1.txt", tmp_path / "summary.txt")
    shutil.copy(data / "prices_1.yaml", tmp_path / "prices.yaml")
    (tmp_path / "policy.yaml").write_text(POLICY, encoding="utf-8")
    (tmp_path / "stricter.yaml").write_text(POLICY, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for name in ("USAGELENS_CONFIG_FILE", "USAGELENS_POLICY_FILE", "USAGELENS_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.mark.parametrize("document", [d.name for d in DOCUMENTS if _commands(d)])
def test_every_command_runs_as_shown(document: str, scratch: Path) -> None:
    path = next(d for d in DOCUMENTS if d.name == document)
    shown_here = _commands(path)
    store = {"USAGELENS_DATABASE_URL": f"sqlite:///{scratch / 'store.db'}"}
    # The documents speak of a store holding data: the sample and its prices.
    assert run_cli("ingest", "summary.txt", env=store).returncode == 0
    assert run_cli("prices", "prices.yaml", env=store).returncode == 0
    ran = 0
    for shown in shown_here:
        if shown.args[0] in NOT_STARTED or "--url" in shown.args:
            _parse_only(shown)
            continue
        if shown.synopsis and any(re.fullmatch(r"[A-Z][A-Z_]*|\.\.\.", a) for a in shown.args):
            _parse_only(shown)
            continue
        done = run_cli(*shown.args, env={**store, **shown.env})
        assert "Traceback" not in done.stderr, f"{shown}\n{done.stderr}"
        expected = NAMES_WHAT_IS_NOT_HERE.get(tuple(shown.args[:2]))  # type: ignore[arg-type]
        if expected is not None and done.returncode == 1:
            assert expected in done.stderr and done.stderr.count("\n") == 1, (
                f"{shown}\n{done.stderr}"
            )
        else:
            assert done.returncode == 0, f"{shown}\n{done.stdout[-500:]}\n{done.stderr}"
        if shown.redirect:
            (scratch / shown.redirect).write_text(done.stdout, encoding="utf-8")
        ran += 1
    assert ran or document != "README.md"


def _curl_lines(path: Path) -> list[tuple[int, str]]:
    """Every ``curl`` command of a document's shell blocks."""
    return [(n, text.strip()) for n, text in _shell_lines(path) if text.strip().startswith("curl ")]


def test_every_curl_command_answers_as_shown(start_server, simulator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Each document's curl lines, run by bash with curl against a real server (sources: a
    real simulator), in order, from a folder holding the files they name; an HTTP error
    fails (``--fail-with-body``)."""
    curl = shutil.which("curl")
    if curl is None:
        missing_server("curl not installed (Debian package curl)")
    token = "docs-token"
    server = start_server(
        {
            "USAGELENS_DATABASE_URL": f"sqlite:///{tmp_path / 'docs.db'}",
            "USAGELENS_API_TOKEN": token,
            "USAGELENS_SOURCES": simulator.url,
        }
    )
    ran = 0
    for document in DOCUMENTS:
        folder = tmp_path / document.stem  # each document from a folder of its own
        shutil.copytree(ROOT / "tests" / "data", folder / "tests" / "data")
        (folder / "stricter.yaml").write_text(POLICY, encoding="utf-8")
        for number, line in _curl_lines(document):
            fails = re.search(r"\s-[a-zA-Z]*f[a-zA-Z]*\s", line) is not None  # -f, -fsS
            extra = "-sS " if fails else "--fail-with-body -sS "
            command = line.replace("http://127.0.0.1:8000", server.url).replace(
                "curl ", "curl " + extra, 1
            )
            done = subprocess.run(
                ["bash", "-c", command], cwd=folder, env={**os.environ, "TOKEN": token},
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert done.returncode == 0, (
                f"{document.name}:{number}: {line}\n{done.stdout}{done.stderr}"
            )
            ran += 1
    assert ran >= 15
    page = (tmp_path / "README" / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>")
    assert (tmp_path / "focus" / "usagelens-focus.csv").exists()
    assert (tmp_path / "focus" / "november.csv").exists()
