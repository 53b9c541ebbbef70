"""Read and replace the price list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from usagelens.api.deps import ServiceDep, WriteAuth
from usagelens.api.schemas import PricesOut
from usagelens.domain.errors import NotFound
from usagelens.domain.prices import MANUAL_ORIGIN, MANUAL_RANK, PriceList
from usagelens.services import UsageLens

router = APIRouter(prefix="/api/v1", tags=["prices"])

_BODY = {
    "requestBody": {
        "required": True,
        "description": "The price list in YAML (the module's format) or JSON.",
        "content": {
            "application/yaml": {
                "schema": {"type": "string"},
                "example": (
                    'values:\n  SZY1417: {CPU: 120, RAM: 80, NetFlow: 30}\n  "0080": {CPU: 15}\n'
                ),
            },
            "application/json": {
                "schema": {"type": "object"},
                "example": {"values": {"SZY1417": {"CPU": 120, "RAM": 80, "NetFlow": 30}}},
            },
        },
    }
}


OriginQuery = Annotated[
    str | None,
    Query(
        max_length=500,
        description="one origin's list: a source's base URL, `manual` (set by hand) or "
        "`legacy`; leave out for the prices in force",
    ),
]


def _out(service: UsageLens, prices: PriceList, origin: str | None) -> PricesOut:
    lists = sorted(service.price_lists(), key=lambda e: (-e.rank, e.origin))
    return PricesOut.model_validate(
        {
            "currency": service.currency,
            **prices.to_document(),
            "origin": origin,
            "origins": [
                {"origin": e.origin, "rank": e.rank, "resources": len(e.prices.values)}
                for e in lists
            ],
        }
    )


@router.get("/prices", response_model=PricesOut, summary="Read the prices in force, or one list")
def read_prices(service: ServiceDep, origin: OriginQuery = None) -> PricesOut:
    """Return the prices in force (every origin's list merged by rank), or one origin's list."""
    return _out(service, service.prices(origin), origin)


@router.put(
    "/prices",
    response_model=PricesOut,
    dependencies=[WriteAuth],
    openapi_extra=_BODY,
    summary="Replace one origin's price list (by default the hand-set one)",
    responses={422: {"description": "malformed price list; nothing changed"}},
)
async def replace_prices(
    request: Request,
    service: ServiceDep,
    origin: Annotated[
        str,
        Query(
            min_length=1,
            max_length=500,
            description="whose list this is: `manual` (set by hand, wins over every source) "
            "or a source's base URL (what `collect --url` sends)",
        ),
    ] = MANUAL_ORIGIN,
    rank: Annotated[
        int,
        Query(
            ge=0,
            lt=MANUAL_RANK,
            description="a source list's rank: a later source in the configured order "
            "ranks higher; ignored for `manual`",
        ),
    ] = 0,
) -> PricesOut:
    """Replace one origin's list with the one sent; the other origins' lists stay."""
    payload = await request.body()
    prices = await run_in_threadpool(service.replace_prices, payload, origin=origin, rank=rank)
    return _out(service, prices, origin)


@router.delete(
    "/prices",
    response_model=PricesOut,
    dependencies=[WriteAuth],
    summary="Forget one origin's price list",
    responses={404: {"description": "no list of that origin is stored"}},
)
def drop_prices(
    service: ServiceDep,
    origin: Annotated[str, Query(min_length=1, max_length=500)] = MANUAL_ORIGIN,
) -> PricesOut:
    """Forget a list (a retired source's, or the hand-set one); answer the prices in force."""
    if not service.drop_prices(origin):
        raise NotFound(f"no price list of origin {origin!r} is stored")
    return _out(service, service.prices(), None)
