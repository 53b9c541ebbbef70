"""Policy what-if: what a candidate policy would decide, without changing anything."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from usagelens.api.deps import HandlersDep, QueriesDep, WindowDep
from usagelens.api.schemas import PolicyDiffOut
from usagelens.documents import load_document
from usagelens.domain.errors import InvalidInput, PolicyError
from usagelens.domain.policy import Policy, policy_from_document

router = APIRouter(prefix="/api/v1", tags=["policy"])

_BODY = {
    "requestBody": {
        "required": True,
        "description": "A policy document in YAML or JSON (docs/policy.md); keys left out "
        "keep their defaults.",
        "content": {
            "application/yaml": {
                "schema": {"type": "string"},
                "example": "intensity: {low: 45, medium: 65, high: 85}\n",
            },
            "application/json": {
                "schema": {"type": "object"},
                "example": {"intensity": {"low": 45, "medium": 65, "high": 85}},
            },
        },
    }
}


@router.get("/policy", summary="The policy in force")
def policy_in_force(handlers: HandlersDep) -> dict[str, Any]:
    """Return the decision policy every verdict is made under (docs/policy.md) and its
    fingerprint: the configured one (USAGELENS_POLICY_FILE) or the one stored with the data."""
    return handlers.policy.describe()


_ROUTE: dict[str, Any] = {
    "response_model": PolicyDiffOut,
    "openapi_extra": _BODY,
    "responses": {422: {"description": "malformed policy document"}},
}


@router.post("/policy/preview", summary="What a candidate policy would change", **_ROUTE)
@router.post(
    "/policy/diff",
    summary="What a candidate policy would change (the same as /policy/preview)",
    operation_id="policy_diff_alias",
    **_ROUTE,
)
async def policy_diff(request: Request, queries: QueriesDep, window: WindowDep) -> PolicyDiffOut:
    """Judge every row of the window under the candidate policy: the rows whose decision
    changes, the decisions counted, and how the money on what is to be deleted moves.
    Nothing is stored."""
    candidate = _candidate(await request.body())
    diff = await run_in_threadpool(queries.policy_diff, candidate, window)
    return PolicyDiffOut.model_validate(diff.to_document(queries.currency))


def _candidate(payload: bytes) -> Policy:
    try:
        return policy_from_document(load_document(payload, what="policy"))
    except PolicyError:
        raise
    except InvalidInput as exc:
        raise PolicyError(str(exc)) from None
