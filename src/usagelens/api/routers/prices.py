"""Read and replace the price list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from usagelens.api.deps import PricesDep, QueriesDep, WriteAuth
from usagelens.api.schemas import PriceListsIn, PriceListsOut, PricesOut
from usagelens.app import Prices
from usagelens.domain.errors import NotFound
from usagelens.domain.ids import LOCATOR_MAX
from usagelens.domain.prices import (
    MANUAL_ORIGIN,
    OriginPrices,
    PriceList,
    price_list_from_document,
)
from usagelens.domain.times import as_utc

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
        max_length=LOCATOR_MAX,
        description="one origin's list: a source's base URL, `manual` (set by hand) or "
        "`legacy`; leave out for the prices in force",
    ),
]


def _out(handler: Prices, currency: str, prices: PriceList, origin: str | None) -> PricesOut:
    return PricesOut.model_validate(
        {
            "currency": currency,
            **prices.to_document(),
            "origin": origin,
            "origins": [
                {
                    "origin": e.origin,
                    "precedence": i,
                    "updated_at": e.updated_at,
                    "resources": len(e.prices.values),
                }
                for i, e in enumerate(handler.price_lists(), start=1)
            ],
        }
    )


@router.get("/prices", response_model=PricesOut, summary="Read the prices in force, or one list")
def read_prices(prices: PricesDep, queries: QueriesDep, origin: OriginQuery = None) -> PricesOut:
    """Return the prices in force (the origins' lists merged per resource and dimension,
    the stronger list winning each price), or one origin's list."""
    return _out(prices, queries.currency, prices.prices(origin), origin)


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
    prices: PricesDep,
    queries: QueriesDep,
    origin: Annotated[
        str,
        Query(
            min_length=1,
            max_length=LOCATOR_MAX,
            description="whose list this is: `manual` (set by hand, wins over every source) "
            "or a source's base URL",
        ),
    ] = MANUAL_ORIGIN,
) -> PricesOut:
    """Replace one origin's list with the one sent; the other origins' lists stay."""
    payload = await request.body()
    replaced = await run_in_threadpool(prices.replace_prices, payload, origin=origin)
    return _out(prices, queries.currency, replaced, origin)


@router.put(
    "/prices/sources",
    response_model=PriceListsOut,
    dependencies=[WriteAuth],
    summary="Replace the lists one pull fetched from its sources, all in one transaction",
    responses={422: {"description": "a malformed list; none of them changed"}},
)
def replace_source_prices(prices: PricesDep, body: PriceListsIn) -> PriceListsOut:
    """Store every list sent, or none: what ``collect --url`` sends after a pull.

    A list fetched before the one stored for its origin is left out (``stale``), so that
    a slow pull cannot overwrite a newer list.
    """
    entries = [
        OriginPrices(
            entry.origin,
            price_list_from_document({"values": entry.values}),
            as_utc(entry.fetched_at) if entry.fetched_at else None,
        )
        for entry in body.lists
    ]
    stored = prices.store_price_lists(entries)
    return PriceListsOut(stored=stored, stale=[e.origin for e in entries if e.origin not in stored])


@router.delete(
    "/prices",
    response_model=PricesOut,
    dependencies=[WriteAuth],
    summary="Forget one origin's price list",
    responses={404: {"description": "no list of that origin is stored"}},
)
def drop_prices(
    prices: PricesDep,
    queries: QueriesDep,
    origin: Annotated[str, Query(min_length=1, max_length=LOCATOR_MAX)] = MANUAL_ORIGIN,
) -> PricesOut:
    """Forget a list (a retired source's, or the hand-set one); answer the prices in force."""
    if not prices.drop_prices(origin):
        raise NotFound(f"no price list of origin {origin!r} is stored")
    return _out(prices, queries.currency, prices.prices(), None)
