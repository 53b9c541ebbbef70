"""Policy what-if over the API and the CLI: the rows that change and the money, checked
against an independent calculation; nothing is stored."""

from __future__ import annotations

import html
import json
import re
import statistics
from pathlib import Path

import pytest

from tests import independent
from tests.conftest import InProcessClient, run_cli, store_content
from usagelens.documents import load_document

TOKEN = "what-if-token"
AUTH = {"X-Auth-Token": TOKEN}
STRICTER = b"intensity: {low: 45, medium: 65, high: 85}\n"


def _decision(values: list[float], low: float, medium: float, high: float) -> str:
    """SPEC 2's rules written out again, with the intensity thresholds as parameters."""
    mean, median = sum(values) / len(values), statistics.median(values)
    usage_type = (
        "falling" if mean < 0.75 * median else "spiky" if mean > 1.25 * median else "stable"
    )
    if median <= low:
        return "delete"
    if median > high or (median > medium and usage_type == "spiky"):
        return "extend"
    return "keep"


def _expected(summary: bytes, price_document: bytes) -> tuple[set, dict, dict]:  # type: ignore[type-arg]
    series = independent.parse(summary.decode())
    document = load_document(price_document)
    assert isinstance(document, dict)
    prices = {str(r): {d: float(p) for d, p in v.items()} for r, v in document["values"].items()}
    costs = {
        (r["team"], r["resource"], r["dimension"]): r["cost"]
        for r in independent.rows(series, prices)
    }
    changed = set()
    before = {"CPU": 0.0, "RAM": 0.0, "NetFlow": 0.0}
    after = dict(before)
    for key, by_time in series.items():
        values = list(by_time.values())
        now, candidate = _decision(values, 30, 60, 90), _decision(values, 45, 65, 85)
        if now != candidate:
            changed.add(key)
        cost = costs[key] or 0.0
        before[key[2]] += cost if now == "delete" else 0.0
        after[key[2]] += cost if candidate == "delete" else 0.0
    return changed, before, after


@pytest.fixture
def api(app_client):  # type: ignore[no-untyped-def]
    return app_client(api_token=TOKEN)


def test_stricter_policy_diff_names_the_rows_and_the_money(
    api: InProcessClient, sample_summary: bytes, sample_prices: bytes
) -> None:
    assert api.post("/api/v1/usage", content=sample_summary, headers=AUTH).status_code == 200
    assert api.put("/api/v1/prices", content=sample_prices, headers=AUTH).status_code == 200
    rows_before = api.get("/api/v1/resources", params={"limit": 1000}).json()
    assert api.database_url is not None
    stored = store_content(api.database_url)
    changed, before, after = _expected(sample_summary, sample_prices)

    answer = api.post(
        "/api/v1/policy/preview", content=STRICTER, headers={"Content-Type": "application/yaml"}
    )
    assert answer.status_code == 200, answer.text
    diff = answer.json()
    alias = api.post("/api/v1/policy/diff", content=STRICTER)
    assert alias.status_code == 200 and alias.json() == diff
    assert diff["rows"] == 120
    assert {(c["team"], c["resource"], c["dimension"]) for c in diff["changes"]} == changed
    assert diff["changed"] == len(changed) > 0
    money = diff["deleted_cost"]
    assert money["before"]["CPU"] == pytest.approx(5344) == pytest.approx(before["CPU"])
    for dimension in ("CPU", "RAM", "NetFlow"):
        assert money["before"][dimension] == pytest.approx(before[dimension], abs=1e-9)
        assert money["after"][dimension] == pytest.approx(after[dimension], abs=1e-9)
        assert money["change"][dimension] == pytest.approx(
            after[dimension] - before[dimension], abs=1e-9
        )
    assert sum(diff["decisions"]["after"].values()) == 120
    # Nothing stored or changed.
    assert store_content(api.database_url) == stored
    assert api.get("/api/v1/resources", params={"limit": 1000}).json() == rows_before


def test_a_malformed_policy_is_a_422_problem(api: InProcessClient) -> None:
    for body in (b"intensity: {low: high}\n", b"[1, 2", b"colour: blue\n"):
        answer = api.post("/api/v1/policy/preview", content=body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")


def test_cli_policy_diff_json_matches_the_api(
    tmp_path: Path, sample_summary: bytes, sample_prices: bytes
) -> None:
    env = {"USAGELENS_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    summary, prices, candidate = (tmp_path / n for n in ("s.txt", "p.yaml", "strict.yaml"))
    summary.write_bytes(sample_summary)
    prices.write_bytes(sample_prices)
    candidate.write_bytes(STRICTER)
    for args in (["ingest", str(summary)], ["prices", str(prices)]):
        assert run_cli(*args, env=env).returncode == 0
    done = run_cli("policy", "diff", str(candidate), "--json", env=env)
    assert done.returncode == 0, done.stderr
    diff = json.loads(done.stdout)
    changed, _, after = _expected(sample_summary, sample_prices)
    assert {(c["team"], c["resource"], c["dimension"]) for c in diff["changes"]} == changed
    assert diff["deleted_cost"]["after"]["CPU"] == pytest.approx(after["CPU"], abs=1e-9)
    text = run_cli("policy", "diff", str(candidate), env=env)
    assert text.returncode == 0, text.stderr
    assert f"{len(changed)} of 120 rows change decision" in text.stdout
    bad = run_cli("policy", "diff", str(tmp_path / "missing.yaml"), env=env)
    assert bad.returncode == 1
    assert "cannot read" in bad.stderr and "Traceback" not in bad.stderr


def test_dashboard_policy_page_shows_the_same_diff(
    api: InProcessClient, sample_summary: bytes, sample_prices: bytes
) -> None:
    assert api.post("/api/v1/usage", content=sample_summary, headers=AUTH).status_code == 200
    assert api.put("/api/v1/prices", content=sample_prices, headers=AUTH).status_code == 200
    changed, before, after = _expected(sample_summary, sample_prices)

    form = api.get("/ui/policy")
    assert form.status_code == 200 and form.headers["content-type"].startswith("text/html")
    assert "low: 30" in form.text and 'name="candidate"' in form.text  # the policy in force
    assert 'id="preview"' not in form.text

    page = api.get("/ui/policy", params={"candidate": STRICTER.decode()})
    assert page.status_code == 200, page.text
    shown = re.search(r'<p class="figure" id="changed">([\d,]+) ', page.text)
    assert shown is not None and int(shown.group(1).replace(",", "")) == len(changed)
    total_after = sum(after.values())
    assert f'data-key="total">{total_after:,.2f} RUB' in page.text
    change = total_after - sum(before.values())
    assert f"({change:+,.2f})" in page.text
    table = page.text.split('<table id="changes">', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr>") == len(changed) + 1  # a header and a row per change
    for team, resource, _ in changed:
        assert html.escape(resource) in table and html.escape(team) in table

    bad = api.get("/ui/policy", params={"candidate": "intensity: {low: high}"})
    assert bad.status_code == 422 and 'id="policy-error"' in bad.text
    assert "low: high" in bad.text or "intensity" in bad.text  # says what is wrong
