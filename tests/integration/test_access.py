"""Tokens: from a file, several at once, reads protected on request, failures counted,
and a token never echoed."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import InProcessClient
from usagelens.api import create_app
from usagelens.config import load_settings
from usagelens.domain.errors import NotConfigured

OLD, NEW = "old-token-0123", "new-token-4567"


def _failures(api: InProcessClient, reason: str, token: str) -> float:
    """The failure counter for a reason, read from /metrics (with a token if reads need one)."""
    text = api.get("/metrics", headers={"X-Auth-Token": token}).text
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    return samples.get(("usagelens_auth_failures_total", frozenset({("reason", reason)})), 0.0)


def test_tokens_from_a_file_and_the_environment_are_all_valid(
    app_client, tmp_path: Path, sample_summary: bytes, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    token_file = tmp_path / "tokens"
    token_file.write_text(f"# rotate: the new one first\n{NEW}\n\n")
    api = app_client(api_token=OLD, api_token_file=token_file)
    caplog.set_level(logging.DEBUG)
    for token in (OLD, NEW):
        answer = api.post("/api/v1/usage", content=sample_summary, headers={"X-Auth-Token": token})
        assert answer.status_code == 200, answer.text
    wrong = api.post("/api/v1/usage", content=sample_summary, headers={"X-Auth-Token": "nope-x"})
    assert wrong.status_code == 401
    assert wrong.headers["content-type"].startswith("application/problem+json")
    missing = api.post("/api/v1/usage", content=sample_summary)
    assert missing.status_code == 401
    assert _failures(api, "wrong", "") == 1 and _failures(api, "missing", "") == 1
    everything = wrong.text + missing.text + caplog.text + api.get("/openapi.json").text
    for secret in (OLD, NEW, "nope-x"):
        assert secret not in everything


def test_protected_reads_need_a_token_but_probes_do_not(app_client) -> None:  # type: ignore[no-untyped-def]
    api = app_client(api_token=f"{OLD},{NEW}", protect_reads=True)
    for path in ("/api/v1/costs/total", "/api/v1/resources", "/metrics", "/api/v1/report"):
        refused = api.get(path)
        assert refused.status_code == 401, path
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.headers["www-authenticate"] == "Bearer"
        assert api.get(path, headers={"Authorization": f"Bearer {NEW}"}).status_code == 200
    assert api.get("/healthz").status_code == 200
    assert api.get("/readyz").status_code == 200
    assert _failures(api, "missing", OLD) == 4


def test_token_settings_mistakes_are_named(tmp_path: Path) -> None:
    with pytest.raises(NotConfigured, match=r"USAGELENS_API_TOKEN_FILE=.*cannot read it"):
        load_settings(api_token_file=tmp_path / "absent")
    with pytest.raises(NotConfigured, match="USAGELENS_PROTECT_READS needs"):
        create_app(load_settings(protect_reads=True, database_url=f"sqlite:///{tmp_path}/x.db"))


def test_protected_reads_guard_every_operation_of_the_openapi_document(app_client) -> None:  # type: ignore[no-untyped-def]
    """Walk every operation the API declares: without a token each is a 401 problem (the
    probes excepted), whatever its method, before any of it runs."""
    api = app_client(api_token=OLD, protect_reads=True)
    document = api.get("/openapi.json", headers={"X-Auth-Token": OLD}).json()
    assert api.get("/openapi.json").status_code == 401
    walked = 0
    for path, operations in document["paths"].items():
        for method in operations:
            if method not in {"get", "head", "post", "put", "delete", "patch"}:
                continue
            url = path.replace("{", "").replace("}", "")  # any value: refused before routing
            answer = api.request(method.upper(), url, content=b"{}")
            if path in {"/healthz", "/readyz"}:
                assert answer.status_code == 200, (method, path)
                continue
            walked += 1
            assert operations[method].get("security"), (method, path)  # and the document says so
            assert answer.status_code == 401, (method, path, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json")
    assert walked >= 15
    preview = api.post("/api/v1/policy/preview", content=b"{}", headers={"X-Auth-Token": OLD})
    assert preview.status_code == 200, preview.text
