"""``usagelens load`` against a real httpbin server, as the course exercise runs it."""

from __future__ import annotations

import json
import subprocess

from tests.conftest import run_cli


def _load(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("load", *args)


def test_twenty_concurrent_form_posts_print_each_echo(httpbin_url: str) -> None:
    result = _load(
        f"{httpbin_url}/post", "-n", "20", "-c", "20", "--method", "POST",
        "--form", "name=Alexey, job=developer, experience=9",
        "-H", "X-Shop-Token: vfhnsirf", "-H", "User-Agent: Mega-Browser", "--print",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(answers) == 20
    for answer in answers:
        assert answer["form"] == {"name": "Alexey", "job": "developer", "experience": "9"}
        assert answer["headers"]["X-Shop-Token"] == "vfhnsirf"
        assert answer["headers"]["User-Agent"] == "Mega-Browser"
    assert "20 requests" in result.stderr and "status: 200: 20" in result.stderr


def test_json_body_and_summary(httpbin_url: str) -> None:
    result = _load(f"{httpbin_url}/anything", "-n", "5", "-c", "2", "--json", '{"a": [1, 2]}')
    assert result.returncode == 0, result.stderr
    assert "5 requests" in result.stdout and "status: 200: 5" in result.stdout
    assert "p50" in result.stdout and "p99" in result.stdout and "max" in result.stdout


def test_twenty_one_second_requests_overlap(httpbin_url: str) -> None:
    result = _load(f"{httpbin_url}/delay/1", "-n", "20", "-c", "20")
    assert result.returncode == 0, result.stderr
    elapsed = float(result.stdout.split(" requests in ")[1].split(" s ")[0])
    # Twenty one-second requests in flight together take about one second, not twenty.
    assert 1.0 <= elapsed < 6.0, result.stdout


def test_failures_set_the_exit_code(httpbin_url: str) -> None:
    result = _load(f"{httpbin_url}/status/503", "-n", "3", "-c", "3")
    assert result.returncode == 1
    assert "status: 503: 3" in result.stdout
    bad = _load(f"{httpbin_url}/get", "-H", "no colon")
    assert bad.returncode == 2 and "is not 'Name: value'" in bad.stderr
