"""Schemathesis over every operation of the OpenAPI document, in-process, on a seeded
SQLite file and a seeded PostgreSQL database.

Each operation gets schemathesis' coverage cases (boundary values, missing and wrongly
typed parameters, methods the path does not take), then Hypothesis-generated cases, valid
and invalid, derandomized: the same requests on every run. Every answer must be a
non-5xx that the document declares, in a declared content type and matching the declared
schema (errors included: problem details). Most requests carry the API token, so writes
get past the token check; the others must be refused with a declared 401.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import InProcessClient, depth

TOKEN = "schemathesis-token"
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]
FUZZED_CASES = {"sqlite": depth(100), "postgresql": depth(50)}
"""Hypothesis cases per operation (fewer where the inputs run out), scaled by
``USAGELENS_TEST_DEPTH``: 50 on SQLite under ``make test``, 100 under ``make test-deep``.
PostgreSQL gets every coverage case (boundary lengths, wrong types) but half the fuzzed
ones: those mostly retry the validation that SQLite's run has covered."""
WITHOUT_TOKEN = 5
"""Every fifth request goes without the token."""

Ledger = dict[str, Counter[tuple[bool, int]]]
"""Per operation label: how many answers of each (token sent, status) were seen."""


@pytest.fixture(scope="module")
def seeded_app(module_database_url: str, sample_summary: bytes, sample_prices: bytes) -> Any:
    """The API on a new database (per backend) holding the sample summary and prices."""
    from usagelens.api import create_app
    from usagelens.config import load_settings

    app = create_app(load_settings(database_url=module_database_url, api_token=TOKEN))
    client = InProcessClient(app)
    try:
        auth = {"X-Auth-Token": TOKEN}
        ingest = client.post(
            "/api/v1/usage", content=sample_summary, headers={"Content-Type": "text/plain", **auth}
        )
        assert ingest.status_code == 200, ingest.text
        prices = client.put("/api/v1/prices", content=sample_prices, headers=auth)
        assert prices.status_code == 200, prices.text
    finally:
        client.close()
    return app


def _declared(app: Any) -> dict[str, dict[str, Any]]:
    """Every operation that /openapi.json serves, by label (``GET /path``)."""
    client = InProcessClient(app)
    try:
        document = client.get("/openapi.json").json()
    finally:
        client.close()
    return {
        f"{method.upper()} {path}": operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def _send(case: schemathesis.Case, with_token: bool, ledger: Ledger) -> None:
    headers = {"X-Auth-Token": TOKEN} if with_token else None
    response = case.call_and_validate(headers=headers, checks=CHECKS)
    ledger.setdefault(case.operation.label, Counter())[(with_token, response.status_code)] += 1


def _cover(schema: Any, operation: Any, ledger: Ledger) -> list[str]:
    """Send schemathesis' coverage cases for one operation; return what failed."""
    generation = schema.config.generation_for(operation=operation, phase="coverage")
    cases = schema.iter_coverage_cases(
        operation, generation_modes=list(GenerationMode), generation_config=generation
    )
    failures = []
    for index, case in enumerate(cases, start=1):
        try:
            _send(case, index % WITHOUT_TOKEN != 0, ledger)
        except (Exception, FailureGroup) as exc:
            failures.append(str(exc))
    return failures


def _fuzz(operation: Any, ledger: Ledger, cases_per_operation: int) -> list[str]:
    """Send Hypothesis-generated cases (the document's examples first); return what failed."""
    cases = st.one_of(
        *operation.get_strategies_from_examples(),
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    tokens = st.sampled_from([True] * (WITHOUT_TOKEN - 1) + [False])

    @settings(max_examples=cases_per_operation, derandomize=True, database=None, deadline=None)
    @given(case=cases, with_token=tokens)
    def run(case: schemathesis.Case, with_token: bool) -> None:
        _send(case, with_token, ledger)

    try:
        run()
    except (Exception, FailureGroup) as exc:
        return [str(exc)]
    return []


# Schemathesis builds some number strategies with bounds Hypothesis deprecates (a decimal
# that cannot be exact): the warning comes once per process, from whichever case first
# builds that strategy, so as an error it made a replay "flaky" depending on test order.
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
@pytest.mark.heavy
def test_every_operation_conforms_to_the_document(
    seeded_app: Any, module_database_url: str
) -> None:
    cases_per_operation = FUZZED_CASES[module_database_url.partition(":")[0]]
    declared = _declared(seeded_app)
    schema = schemathesis.openapi.from_asgi("/openapi.json", seeded_app)
    operations = []
    for result in schema.get_all_operations():
        assert not isinstance(result, Err), f"schemathesis cannot read an operation: {result.err()}"
        operations.append(result.ok())
    # Reads first, so that they see the sample data before the writes change it.
    operations.sort(key=lambda operation: operation.method.upper() != "GET")

    ledger: Ledger = {}
    failures: dict[str, list[str]] = {}
    for operation in operations:
        found = _cover(schema, operation, ledger) + _fuzz(operation, ledger, cases_per_operation)
        if found:
            failures[operation.label] = found

    summary = "\n".join(f"{label}: {dict(seen)}" for label, seen in sorted(ledger.items()))
    assert sorted(ledger) == sorted(declared), summary
    for label, operation in declared.items():
        if operation.get("security"):  # a write: the token gets it past the check, or not
            statuses = ledger[label]
            assert any(t and s != 401 for t, s in statuses), f"{label}: {dict(statuses)}"
            assert statuses[(False, 401)], f"{label}: {dict(statuses)}"
    report = [f"{label}:\n{text}" for label, texts in failures.items() for text in texts]
    assert not failures, "\n\n".join(report)
