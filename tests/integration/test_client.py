"""Every command that reads or changes stored data works on a server with --url, written once
against the Client protocol: a real ``usagelens serve`` on loopback answers what the local
store answers, and its errors end in one line (a wrong token names USAGELENS_API_TOKEN)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import free_port, run_cli

TOKEN = "client-token"


def _cli(args: list[str]) -> tuple[int, str, str]:
    """Run the command line in this process; return its exit code, stdout and stderr."""
    result = run_cli(*args)
    return result.returncode, result.stdout, result.stderr


@pytest.fixture
def files(tmp_path: Path, sample_summary: bytes, sample_prices: bytes) -> dict[str, Path]:
    paths = {"summary": tmp_path / "summary.txt", "prices": tmp_path / "prices.yaml"}
    paths["summary"].write_bytes(sample_summary)
    paths["prices"].write_bytes(sample_prices)
    (tmp_path / "strict.yaml").write_text("intensity: {low: 50}\n")
    paths["policy"] = tmp_path / "strict.yaml"
    return paths


def test_every_store_command_works_against_a_server(
    start_server, files: dict[str, Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    server = start_server({"USAGELENS_API_TOKEN": TOKEN})
    other = start_server(
        {"USAGELENS_API_TOKEN": TOKEN, "USAGELENS_DATABASE_URL": f"sqlite:///{tmp_path / 'b.db'}"}
    )
    monkeypatch.setenv("USAGELENS_API_TOKEN", TOKEN)
    monkeypatch.setenv("USAGELENS_DATABASE_URL", f"sqlite:///{tmp_path / 'local.db'}")
    url = ["--url", server.url]

    code, out, err = _cli(["ingest", str(files["summary"]), *url])
    assert code == 0 and "24000 inserted" in out, err
    assert _cli(["prices", str(files["prices"]), *url])[0] == 0
    # The same data locally: the server's report is the local one.
    assert _cli(["ingest", str(files["summary"])])[0] == 0
    assert _cli(["prices", str(files["prices"])])[0] == 0
    remote = json.loads(_cli(["report", "--json", *url])[1])
    local = json.loads(_cli(["report", "--json"])[1])
    assert remote.pop("generated_at") and local.pop("generated_at")
    assert remote == local and sum(remote["decisions"].values()) == 120

    code, out, _ = _cli(["policy", "diff", str(files["policy"]), "--json", *url])
    assert code == 0 and json.loads(out)["rows"] == 120

    code, out, _ = _cli(["prune", "--older-than", "3650d", "--dry-run", *url])
    assert code == 0 and "nothing to delete" in out and "dry run" in out

    export = tmp_path / "export.json"
    assert _cli(["export", "-o", str(export), *url])[0] == 0
    document = json.loads(export.read_text())
    assert document["observations"].count("(") == 24000

    into = ["--url", other.url]
    code, out, _ = _cli(["import", str(export), "--dry-run", *into])
    assert code == 0 and "is empty: import would take it" in out
    assert _cli(["import", str(export), *into])[0] == 0
    imported = json.loads(_cli(["report", "--json", *into])[1])
    imported.pop("generated_at")
    assert imported == remote
    code, _, err = _cli(["import", str(export), *into])
    assert code == 1 and "not empty" in err and len(err.strip().splitlines()) == 1

    code, _, err = _cli(["rebuild", *url])
    assert code == 0 and "rebuilt 120 series from 24000 observations" in err

    # Everything was collected in November 2026: a prune of what is older than a day
    # deletes it all, on the server only.
    code, _, err = _cli(["prune", "--older-than", "1d", "--yes", *url])
    assert code == 0 and "pruned 24000 observations of 120 series" in err, err
    assert json.loads(_cli(["report", "--json", *url])[1])["teams"] == []
    assert json.loads(_cli(["report", "--json"])[1])["teams"]  # the local one stays


def test_a_server_that_refuses_or_is_away_ends_in_one_line(
    start_server, files: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    server = start_server({"USAGELENS_API_TOKEN": TOKEN})
    monkeypatch.setenv("USAGELENS_API_TOKEN", "not-the-token")
    for args in (["ingest", str(files["summary"])], ["rebuild"], ["prune", "--older-than", "1d"]):
        code, _, err = _cli([*args, "--url", server.url])
        assert code == 1, (args, err)
        (line,) = err.strip().splitlines()
        assert "401" in line and "USAGELENS_API_TOKEN" in line and "Traceback" not in err
    away = f"http://127.0.0.1:{free_port()}"
    code, _, err = _cli(["report", "--url", away])
    assert code == 1 and err.startswith(f"error: cannot reach {away}")
    assert len(err.strip().splitlines()) == 1
