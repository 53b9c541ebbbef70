"""Destructive commands are safe: ``prune``, ``prices --drop`` and ``import`` say what they
would do with ``--dry-run`` and change nothing, ask on a terminal unless ``--yes``, and
``prune`` refuses an age under an hour unless forced.

The command line on real SQLite files and PostgreSQL databases: run in this process as a
script would run it (``run_cli``), and as a real process on a pseudo-terminal (``pty``)
where a terminal is the point. "Nothing changed" compares the whole ``export`` document.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import free_port, run_cli
from usagelens.app import Handlers, build
from usagelens.domain.model import Observation
from usagelens.domain.summary import render_summary
from usagelens.simulator.data import company, price_list_yaml
from usagelens.storage import SqlStore, create_engine_for, migrate

PUSHES = b'[{"status": 202, "endpoint": "/a", "time": 0.2}, {"status": 500, "endpoint": "/b", "time": 3}]'


def _run(url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a command as a script would (stdin is not a terminal), in this process."""
    return run_cli(*args, env={"COLUMNS": "200", "USAGELENS_DATABASE_URL": url, **env})


def _on_a_terminal(url: str, *args: str, answer: str) -> tuple[int, str]:
    """Run a command on a pseudo-terminal; answer its question; return (exit code, screen)."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "usagelens", *args],
        env={**os.environ, "COLUMNS": "200", "USAGELENS_DATABASE_URL": url},
        stdin=slave,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    screen, answered = b"", False
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            screen += chunk
            if not answered and b"[y/N]: " in screen:
                os.write(master, answer.encode() + b"\n")
                answered = True
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    return code, screen.decode().replace("\r\n", "\n")


def _open(url: str) -> Handlers:
    engine = create_engine_for(url)
    migrate(engine)
    return build(SqlStore(engine))


def _export(url: str) -> dict[str, object]:
    service = _open(url)
    try:
        document = service.maintenance.export()
    finally:
        service.store.engine.dispose()  # type: ignore[attr-defined]
    document.pop("exported_at")
    return document


def _observations(url: str) -> int:
    text = str(_export(url)["observations"])
    return text.count("(")


@pytest.fixture
def newest() -> datetime:
    """The newest observation: half an hour ago, so ages in whole hours cut between rows."""
    return (datetime.now(UTC) - timedelta(minutes=30)).replace(microsecond=0)


@pytest.fixture
def store(database_url: str, newest: datetime) -> str:
    """120 series of 200 hourly observations ending at ``newest``, prices, two pushes."""
    branch = company(1)
    sample = branch.observations(newest)
    shift = newest - max(o.collected_at for o in sample)
    shifted = [
        Observation(o.team, o.resource, o.dimension, o.collected_at + shift, o.usage)
        for o in sample
    ]
    service = _open(database_url)
    service.ingest.ingest(render_summary(shifted).encode(), source="test")
    service.prices.replace_prices(price_list_yaml([branch]).encode())
    service.pushes.record_pushes(service.pushes.parse_push(PUSHES))
    service.store.engine.dispose()  # type: ignore[attr-defined]
    return database_url


def _stamp(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def test_prune_dry_run_says_what_would_go_and_changes_nothing(store: str, newest: datetime) -> None:
    before = _export(store)
    done = _run(store, "prune", "--older-than", "100h", "--dry-run")
    assert done.returncode == 0, done.stderr
    cutoff, would, dry = done.stdout.splitlines()
    assert cutoff.startswith("cutoff: ") and cutoff.endswith(" UTC (older than 100h)")
    oldest, last_to_go = newest - timedelta(hours=199), newest - timedelta(hours=100)
    assert would == (
        f"would delete 12000 observations of 120 series, "
        f"collected {_stamp(oldest)} to {_stamp(last_to_go)}"
    )
    assert dry == "dry run: nothing deleted"
    assert _export(store) == before


def test_prune_without_a_terminal_proceeds_and_counts_honestly(store: str) -> None:
    done = _run(store, "prune", "--older-than", "100h")
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("pruned 12000 observations of 120 series collected before ")
    assert "(older than 100h) in 1 transaction," in done.stderr
    assert _observations(store) == 12000
    again = _run(store, "prune", "--older-than", "50h", "--yes")
    assert again.returncode == 0, again.stderr
    assert again.stderr.startswith("pruned 6000 observations of 120 series")
    assert _observations(store) == 6000


def test_on_a_terminal_prune_asks_first(store: str) -> None:
    before = _export(store)
    code, screen = _on_a_terminal(store, "prune", "--older-than", "100h", answer="n")
    assert code == 1, screen
    assert "would delete 12000 observations of 120 series" in screen
    assert "Delete them? [y/N]: n\nnothing deleted" in screen and "Traceback" not in screen
    assert _export(store) == before

    code, screen = _on_a_terminal(store, "prune", "--older-than", "100h", answer="y")
    assert code == 0, screen
    assert "Delete them? [y/N]: y\n" in screen
    assert "pruned 12000 observations of 120 series" in screen
    assert _observations(store) == 12000

    code, screen = _on_a_terminal(store, "prune", "--older-than", "50h", "--yes", answer="n")
    assert code == 0 and "[y/N]" not in screen, screen
    assert "pruned 6000 observations of 120 series" in screen


def test_an_age_under_an_hour_is_refused_unless_forced(store: str) -> None:
    before = _export(store)
    done = _run(store, "prune", "--older-than", "3m")
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith("error: --older-than 3m is shorter than an hour")
    assert "--force" in line
    assert _export(store) == before
    forced = _run(store, "prune", "--older-than", "3m", "--force")
    assert forced.returncode == 0, forced.stderr
    assert forced.stderr.startswith("pruned 24000 observations of 120 series")
    assert _observations(store) == 0


def test_a_retention_setting_under_an_hour_is_an_invalid_setting(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    expected = (
        "error: invalid configuration: USAGELENS_RETENTION: 30m is shorter than an hour, and "
        "every observation older than it is deleted; use 1h or more (90d, say)"
    )
    for args in (["prune"], ["serve", "--port", str(free_port())]):
        done = _run(url, *args, USAGELENS_RETENTION="30m")
        assert done.returncode == 1, (args, done.stderr)
        assert done.stderr.splitlines() == [expected], args
    assert not (tmp_path / "x.db").exists()
    assert _run(url, "prune", "--dry-run", USAGELENS_RETENTION="1h").returncode == 0


def _manual_resources(url: str) -> int:
    service = _open(url)
    try:
        return {e.origin: len(e.prices.values) for e in service.prices.price_lists()}["manual"]
    finally:
        service.store.engine.dispose()  # type: ignore[attr-defined]


def test_dropping_a_price_list_says_what_it_prices_and_asks(store: str) -> None:
    resources = _manual_resources(store)
    assert resources > 30
    before = _export(store)
    done = _run(store, "prices", "--drop", "manual", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"the price list of manual prices {resources} resources; forgetting it merges the "
        "prices in force again from the other lists",
        "dry run: nothing changed",
    ]
    assert _export(store) == before
    unknown = _run(store, "prices", "--drop", "http://gone:1", "--dry-run")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "error: no price list of origin 'http://gone:1' is stored"
    assert _run(store, "prices", "--dry-run").returncode == 2  # --dry-run goes with --drop

    code, screen = _on_a_terminal(store, "prices", "--drop", "manual", answer="n")
    assert code == 1 and f"prices {resources} resources" in screen, screen
    assert "Forget it? [y/N]: n\nnothing changed" in screen
    assert _export(store) == before

    code, screen = _on_a_terminal(store, "prices", "--drop", "manual", answer="y")
    assert code == 0 and "forgot the price list of manual" in screen, screen
    after = _export(store)
    assert after["price_lists"] == [] and after["observations"] == before["observations"]


def test_dropping_a_price_list_on_a_server_dry_run(tmp_path: Path, start_server: object) -> None:
    server = start_server()  # type: ignore[operator]
    url = f"sqlite:///{tmp_path / 'api.db'}"
    service = _open(url)
    service.prices.replace_prices(price_list_yaml([company(1)]).encode())
    service.store.engine.dispose()  # type: ignore[attr-defined]
    before = _export(url)
    done = _run(url, "prices", "--drop", "manual", "--dry-run", "--url", server.url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"the price list of manual prices {_manual_resources(url)} ")
    assert _export(url) == before
    done = _run(url, "prices", "--drop", "manual", "--yes", "--url", server.url)
    assert done.returncode == 0 and _export(url)["price_lists"] == [], done.stderr


def test_import_dry_run_says_what_the_document_holds_and_writes_nothing(
    store: str, tmp_path: Path
) -> None:
    backup = tmp_path / "backup.json"
    backup.write_text(json.dumps(_export(store)))
    resources = _manual_resources(store)

    new = f"sqlite:///{tmp_path / 'new.db'}"
    done = _run(new, "import", str(backup), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"{backup} holds 24000 observations of 120 series, 2 pushed events and 1 price "
        f"lists: manual ({resources} resources)",
        f"the store at {new} is empty: import would take it",
        "dry run: nothing written",
    ]
    assert not (tmp_path / "new.db").exists()

    full = _run(store, "import", str(backup), "--dry-run")
    assert full.returncode == 1
    assert full.stdout.endswith("dry run: nothing written\n")
    assert "is not empty: import would refuse it" in full.stderr

    assert _run(new, "import", str(backup)).returncode == 0
    assert _export(new) == json.loads(backup.read_text())
