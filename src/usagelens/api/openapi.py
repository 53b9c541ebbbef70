"""What the OpenAPI document says about errors: each is RFC 9457 problem details.

FastAPI documents its own validation error (``HTTPValidationError``, as
``application/json``), which this API never answers, and none of the answers that
middleware and dependencies give. The document is completed here, once, for every
operation: a 503 while the database is away, a 401 where a token is required, a 400 and
a 413 where a body is read, and the problem schema on every error answer.
"""

from __future__ import annotations

from typing import Any

from usagelens.api.errors import PROBLEM_JSON
from usagelens.api.schemas import ProblemOut

_PROBLEM = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemOut"}}}
_DESCRIPTIONS = {
    "400": "the body cannot be read (a bad Content-Length, or JSON that is not UTF-8)",
    "401": "the API token is missing or wrong",
    "413": "the body is over the size limit; nothing changed",
    "422": "the request is malformed; nothing changed",
    "503": "the database is unreachable (or the process is shutting down): try again after "
    "Retry-After seconds; nothing changed",
}
_FASTAPI_PLACEHOLDERS = frozenset({"", "Additional Response", "Validation Error"})
_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})


_TOKEN_SECURITY: list[dict[str, list[str]]] = [{"token": []}, {"bearer": []}]
_PROBES = frozenset({"/healthz", "/readyz"})


def document_problems(schema: dict[str, Any], *, protect_reads: bool = False) -> None:
    """Declare every error an operation can answer, as problem details, in place.

    With ``protect_reads`` every operation but the probes needs the token, and says so.
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components["ProblemOut"] = ProblemOut.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    for path, path_item in schema.get("paths", {}).items():
        for method, operation in path_item.items():
            if method not in _METHODS:
                continue
            if protect_reads and path not in _PROBES:
                operation.setdefault("security", _TOKEN_SECURITY)
            _complete(operation.setdefault("responses", {}), operation)


def _complete(responses: dict[str, Any], operation: dict[str, Any]) -> None:
    if not str(operation.get("operationId", "")).startswith("healthz"):
        responses.setdefault("503", {})  # every other operation reads or writes the store
    if operation.get("security"):
        responses.setdefault("401", {})
    if "requestBody" in operation:
        responses.setdefault("400", {})
        responses.setdefault("413", {})
        responses.setdefault("422", {})
    for status, response in responses.items():
        if status[0] not in "45":
            continue
        if response.get("description", "") in _FASTAPI_PLACEHOLDERS:
            response["description"] = _DESCRIPTIONS.get(status, "an error")
        response["content"] = _PROBLEM
