"""The API in-process on a real SQLite file; a real uvicorn server where it matters."""

from __future__ import annotations

import json

import httpx
import pytest

from tests import independent
from tests.conftest import InProcessClient, run_cli
from usagelens.documents import load_document

TOKEN = "s3cret-token"
AUTH = {"X-Auth-Token": TOKEN}


@pytest.fixture
def api(app_client):  # type: ignore[no-untyped-def]
    return app_client(api_token=TOKEN, max_body_bytes=2_000_000)


def _ingest(api: InProcessClient, body: bytes, **kwargs) -> httpx.Response:  # type: ignore[no-untyped-def]
    headers = {"Content-Type": "text/plain", **AUTH, **kwargs.pop("headers", {})}
    return api.post("/api/v1/usage", content=body, headers=headers, **kwargs)


def _problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["detail"]
    return body


def test_sample_end_to_end(
    api: InProcessClient, sample_summary: bytes, sample_prices: bytes
) -> None:
    first = _ingest(api, sample_summary)
    assert first.status_code == 200, first.text
    assert first.json() | {"batch_id": 0} == {
        "batch_id": 0, "observations": 24000, "inserted": 24000, "updated": 0,
        "duplicates": 0, "teams": 4, "resources": 40,
    }  # fmt: skip
    again = _ingest(api, sample_summary).json()
    assert (again["inserted"], again["duplicates"]) == (0, 24000)
    put = api.put("/api/v1/prices", content=sample_prices, headers=AUTH)
    assert put.status_code == 200 and put.json()["values"]["0080"] == {
        "CPU": 826,
        "RAM": 140,
        "NetFlow": 73,
    }

    total = api.get("/api/v1/costs/total").json()
    assert total["total"] == 33951 and total["currency"] == "RUB" and total["unpriced"] == []
    deleted = api.get("/api/v1/costs/deleted").json()
    assert deleted["by_dimension"] == {"CPU": 5344, "RAM": 2492, "NetFlow": 1443}
    assert sum(t["total"] for t in deleted["teams"].values()) == pytest.approx(5344 + 2492 + 1443)

    rows = api.get("/api/v1/resources", params={"limit": 10000}).json()
    assert rows["total"] == 120 and len(rows["items"]) == 120
    prices = load_document(sample_prices)["values"]  # type: ignore[index]
    expected = {
        (r["team"], r["resource"], r["dimension"]): r
        for r in independent.rows(independent.parse(sample_summary.decode()), prices)
    }
    for item in rows["items"]:
        want = expected[(item["team"], item["resource"], item["dimension"])]
        for field in ("count", "usage_type", "intensity", "decision"):
            assert item[field] == want[field]
        for field in ("mean", "median", "cost"):
            assert item[field] == pytest.approx(want[field], abs=1e-9)
        assert item["reason"].endswith("→ " + item["decision"])


def test_resources_filters_sort_and_paging(
    api: InProcessClient, sample_summary: bytes, sample_prices: bytes
) -> None:
    _ingest(api, sample_summary)
    api.put("/api/v1/prices", content=sample_prices, headers=AUTH)
    deletes = api.get("/api/v1/resources", params={"decision": "delete", "dimension": "CPU"}).json()
    assert deletes["total"] > 0 and all(
        i["decision"] == "delete" and i["dimension"] == "CPU" for i in deletes["items"]
    )
    page = api.get(
        "/api/v1/resources", params={"sort": "cost", "order": "desc", "limit": 5, "offset": 1}
    ).json()
    costs = [i["cost"] for i in page["items"]]
    assert len(costs) == 5 and costs == sorted(costs, reverse=True)
    team = api.get("/api/v1/resources", params={"team": "seize holistic users"}).json()
    assert team["total"] == 30
    assert api.get("/api/v1/resources", params={"limit": 10001}).status_code == 422
    _problem(api.get("/api/v1/resources", params={"dimension": "GPU"}), 422)
    window = api.get("/api/v1/resources", params={"since": "2026-11-27 00:00:00"}).json()
    assert window["items"] and all(i["count"] < 200 for i in window["items"])
    _problem(
        api.get("/api/v1/resources", params={"since": "2026-11-28", "until": "2026-11-27"}), 422
    )


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "empty team entry"),
        (b"team|(R,CPU,2026-11-19 10:00:00,5", "unbalanced parentheses"),
        (b"team|(R,CPU,2026-11-19 10:00:00)", "expected 4 fields"),
        (b"team|(R,CPU,2026-11-19 10:00:00,5,1)", "expected 4 fields"),
        (b"team|(R,CPU,2026-11-19 10:00:00,150)", "out of range"),
        (b"team|(R,CPU,2026-11-19 10:00:00,x)", "usage 'x' is not a number"),
        (b"team|(R,DISK,2026-11-19 10:00:00,5)", "unknown dimension 'DISK'"),
        (b"team|(R,CPU,19.11.2026 10:00,5)", "not a date-time"),
        (b"|(R,CPU,2026-11-19 10:00:00,5)", "team is empty"),
        (b"team|(,CPU,2026-11-19 10:00:00,5)", "resource is empty"),
        (b"team|(R\xff,CPU,2026-11-19 10:00:00,5)", "not valid UTF-8"),
    ],
)
def test_malformed_summary_is_a_4xx_problem_and_stores_nothing(
    api: InProcessClient, body: bytes, fragment: str
) -> None:
    good = b"ok team|(R,CPU,2026-11-19 09:00:00,5)$"
    problem = _problem(_ingest(api, good + body), 422)
    assert fragment in problem["detail"]
    assert problem["type"] == "urn:usagelens:problem:invalid-summary"
    assert api.get("/api/v1/resources").json()["total"] == 0


def test_malformed_json_body(api: InProcessClient) -> None:
    assert "payload is empty" in _problem(_ingest(api, b"  \n"), 422)["detail"]
    headers = {"Content-Type": "application/json"}
    assert "not valid JSON" in _problem(_ingest(api, b"[{", headers=headers), 422)["detail"]
    bad = json.dumps(
        [
            {
                "team": "t",
                "resource": "r",
                "dimension": "CPU",
                "collected_at": "2026-11-19 10:00:00",
                "usage": "high",
            }
        ]
    )
    assert "record 1" in _problem(_ingest(api, bad.encode(), headers=headers), 422)["detail"]
    good = json.dumps(
        [
            {
                "team": "t",
                "resource": "0080",
                "dimension": "CPU",
                "collected_at": "2026-11-19 10:00:00",
                "usage": 5,
            }
        ]
    )
    assert _ingest(api, good.encode(), headers=headers).json()["inserted"] == 1


def test_writes_need_the_token(api: InProcessClient, sample_prices: bytes) -> None:
    body = b"t|(R,CPU,2026-11-19 10:00:00,5)"
    response = api.post("/api/v1/usage", content=body)
    assert _problem(response, 401) and response.headers["www-authenticate"] == "Bearer"
    _problem(api.post("/api/v1/usage", content=body, headers={"X-Auth-Token": "wrong"}), 401)
    _problem(api.put("/api/v1/prices", content=sample_prices), 401)
    _problem(api.post("/api/v1/webhooks/refresh"), 401)
    bearer = api.post("/api/v1/usage", content=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert bearer.status_code == 200
    assert api.get("/api/v1/costs/total").status_code == 200  # reads are open


def test_body_over_the_limit_is_413(api: InProcessClient) -> None:
    big = b"t|" + b";".join([b"(R,CPU,2026-11-19 10:00:00,5)"] * 80000)
    _problem(_ingest(api, big), 413)

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(40):
            yield b"x" * 100_000

    streamed = api.post(
        "/api/v1/usage", content=chunks(), headers={**AUTH, "Content-Type": "text/plain"}
    )
    _problem(streamed, 413)
    assert api.get("/api/v1/resources").json()["total"] == 0


def test_bad_price_list_is_422_and_keeps_the_old_one(
    api: InProcessClient, sample_prices: bytes
) -> None:
    api.put("/api/v1/prices", content=sample_prices, headers=AUTH)
    problem = _problem(
        api.put("/api/v1/prices", content=b"values: {A: {CPU: -5}}", headers=AUTH), 422
    )
    assert "non-negative" in problem["detail"]
    assert len(api.get("/api/v1/prices").json()["values"]) == 40


def test_report_formats(api: InProcessClient, sample_summary: bytes, sample_prices: bytes) -> None:
    _ingest(api, sample_summary)
    api.put("/api/v1/prices", content=sample_prices, headers=AUTH)
    text = api.get("/api/v1/report")
    assert (
        text.headers["content-type"].startswith("text/plain")
        and "Total cost: 33,951.00 RUB" in text.text
    )
    assert api.get("/api/v1/report", params={"format": "json"}).json()["total"] == 33951
    assert api.get("/api/v1/report", params={"format": "csv"}).text.count("\n") == 121
    assert "<table>" in api.get("/api/v1/report", params={"format": "html"}).text
    assert api.get("/api/v1/report", params={"format": "markdown"}).text.startswith(
        "# usagelens report"
    )
    _problem(api.get("/api/v1/report", params={"format": "pdf"}), 422)


def test_health_openapi_and_unknown_routes(api: InProcessClient) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").json() == {"status": "ready"}
    spec = api.get("/openapi.json").json()
    assert {"/api/v1/usage", "/api/v1/prices", "/api/v1/resources", "/api/v1/costs/total",
            "/api/v1/costs/deleted", "/api/v1/report", "/api/v1/webhooks/refresh"} <= set(spec["paths"])  # fmt: skip
    assert "text/plain" in spec["paths"]["/api/v1/usage"]["post"]["requestBody"]["content"]
    _problem(api.get("/nope"), 404)
    _problem(api.delete("/api/v1/usage"), 405)
    _problem(api.post("/api/v1/webhooks/refresh", headers=AUTH), 409)


def test_without_a_token_writes_work_from_loopback(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server({"USAGELENS_API_TOKEN": ""})
    response = httpx.post(server.url + "/api/v1/usage", content=b"t|(R,CPU,2026-11-19 10:00:00,5)")
    assert response.status_code == 200, response.text


def test_policy_file_and_cli_ingest_into_a_server(
    start_server, tmp_path, sample_summary: bytes
) -> None:  # type: ignore[no-untyped-def]

    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "intensity: {low: 50, medium: 70, high: 95}\ndecisions:\n  - {intensity: low, decision: delete}\n"
    )
    server = start_server({"USAGELENS_API_TOKEN": TOKEN, "USAGELENS_POLICY_FILE": str(policy)})
    summary = tmp_path / "summary.txt"
    summary.write_bytes(sample_summary)
    result = run_cli(
        "ingest", str(summary), "--url", server.url, env={"USAGELENS_API_TOKEN": TOKEN}
    )
    assert result.returncode == 0, result.stderr
    assert "24000 inserted" in result.stdout
    rows = httpx.get(server.url + "/api/v1/resources", params={"limit": 10000}).json()["items"]
    assert {r["decision"] for r in rows} <= {"delete", "keep"}  # no extend rule in this policy
    assert all(r["decision"] == "delete" for r in rows if r["median"] <= 50)
    assert any(r["decision"] == "delete" and r["median"] > 30 for r in rows)


def test_a_405_names_every_method_of_the_path(api: InProcessClient) -> None:
    answer = api.request("POST", "/api/v1/prices")
    assert answer.status_code == 405
    assert answer.headers["content-type"].startswith("application/problem+json")
    allowed = {m.strip() for m in answer.headers["allow"].split(",")}
    assert {"GET", "PUT", "DELETE"} <= allowed


@pytest.mark.parametrize("since", ["0", "1700000000", "yesterday", "2026-13-01"])
def test_a_time_that_is_no_time_is_refused_naming_the_forms(
    api: InProcessClient, since: str
) -> None:
    answer = api.get("/api/v1/resources", params={"since": since})
    assert answer.status_code == 422, answer.text
    assert "2026-11-27T13:00:00Z" in answer.json()["detail"]
    assert api.get("/api/v1/resources", params={"since": "2026-11-27"}).status_code == 200
