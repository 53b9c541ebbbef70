"""Read and replace the price list."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from usagelens.api.deps import ServiceDep, WriteAuth
from usagelens.api.schemas import PricesOut
from usagelens.domain.prices import PriceList

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


def _out(prices: PriceList, currency: str) -> PricesOut:
    return PricesOut.model_validate({"currency": currency, **prices.to_document()})


@router.get("/prices", response_model=PricesOut, summary="Read the price list")
def read_prices(service: ServiceDep) -> PricesOut:
    """Return the stored price list."""
    return _out(service.prices(), service.currency)


@router.put(
    "/prices",
    response_model=PricesOut,
    dependencies=[WriteAuth],
    openapi_extra=_BODY,
    summary="Replace the price list",
    responses={422: {"description": "malformed price list; nothing changed"}},
)
async def replace_prices(request: Request, service: ServiceDep) -> PricesOut:
    """Replace the whole price list with the one sent."""
    payload = await request.body()
    prices = await run_in_threadpool(service.replace_prices, payload)
    return _out(prices, service.currency)
