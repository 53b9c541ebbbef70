"""Request ids on every answer, problem and log line; plain or JSON logs."""

from __future__ import annotations

import json
import time

import httpx

from tests.conftest import InProcessClient


def test_request_id_is_echoed_and_in_every_problem(app_client) -> None:  # type: ignore[no-untyped-def]
    api: InProcessClient = app_client(api_token="t0ken-for-ids")
    given = api.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = api.get("/healthz").headers["x-request-id"]
    assert len(made) == 32 and made != "abc-123"
    hostile = api.get("/healthz", headers={"X-Request-ID": "x" * 500})
    assert len(hostile.headers["x-request-id"]) == 32  # not echoed: not a sane id
    refused = api.post("/api/v1/usage", content=b"t|(r,CPU,x,1)", headers={"X-Request-ID": "r-9"})
    assert refused.status_code == 401 and refused.json()["request_id"] == "r-9"
    bad = api.post(
        "/api/v1/usage",
        content=b"not a summary",
        headers={"X-Auth-Token": "t0ken-for-ids", "X-Request-ID": "r-10"},
    )
    assert bad.status_code == 422 and bad.json()["request_id"] == "r-10"


def test_json_logs_carry_the_request_id_and_an_access_line(start_server) -> None:  # type: ignore[no-untyped-def]
    server = start_server({"USAGELENS_LOG_FORMAT": "json", "USAGELENS_API_TOKEN": "tok-json"})
    answer = httpx.post(
        server.url + "/api/v1/usage",
        content=b"garbage",
        headers={"X-Auth-Token": "tok-json", "X-Request-ID": "req-json-1"},
    )
    assert answer.status_code == 422
    deadline = time.monotonic() + 10
    lines: list[dict] = []  # type: ignore[type-arg]
    while time.monotonic() < deadline:
        lines = [
            json.loads(line) for line in server.log.read_text().splitlines() if line.startswith("{")
        ]
        if any(line.get("request_id") == "req-json-1" for line in lines):
            break
        time.sleep(0.2)
    mine = [line for line in lines if line.get("request_id") == "req-json-1"]
    assert mine, server.log.read_text()
    access = [line for line in mine if line["logger"] == "usagelens.access"]
    assert access and '"POST /api/v1/usage" 422' in access[0]["message"]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert "tok-json" not in server.log.read_text()
