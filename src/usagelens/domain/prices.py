"""Price lists: the price of each dimension of each resource for the billing period."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from usagelens.domain.errors import PriceListError
from usagelens.domain.model import Dimension

_DIMENSIONS = {d.value: d for d in Dimension}


@dataclass(frozen=True, slots=True)
class PriceList:
    """Prices by resource id, then by dimension; a missing entry is unpriced."""

    values: Mapping[str, Mapping[Dimension, float]] = field(default_factory=dict)

    def price(self, resource: str, dimension: Dimension) -> float | None:
        """Return the price of a resource's dimension, or None when it is unpriced."""
        return self.values.get(resource, {}).get(dimension)

    def to_document(self) -> dict[str, dict[str, dict[str, float]]]:
        """Return the list as the module's document: ``{"values": {id: {dim: price}}}``."""
        return {
            "values": {
                resource: {d.value: _plain(dims[d]) for d in Dimension if d in dims}
                for resource, dims in sorted(self.values.items())
            }
        }


def price_list_from_document(document: object) -> PriceList:
    """Validate a decoded price list document (YAML or JSON) into a PriceList.

    Resource keys must already be strings as written (a YAML key ``0080`` is ``"0080"``).
    """
    if not isinstance(document, Mapping) or "values" not in document:
        raise PriceListError("price list must be a mapping with a 'values' key")
    if extra := sorted(str(k) for k in document if k != "values"):
        raise PriceListError(f"unknown top-level key(s): {', '.join(extra)}")
    values = document["values"]
    if values is None:
        return PriceList({})
    if not isinstance(values, Mapping):
        raise PriceListError("'values' must map resource ids to their prices")
    parsed: dict[str, dict[Dimension, float]] = {}
    for raw_resource, dims in values.items():
        resource = str(raw_resource).strip()
        if not resource:
            raise PriceListError("a resource id is empty")
        if not isinstance(dims, Mapping):
            raise PriceListError(
                f"resource {resource!r}: expected a mapping of CPU, RAM, NetFlow to prices"
            )
        prices: dict[Dimension, float] = {}
        for raw_dim, amount in dims.items():
            dimension = _DIMENSIONS.get(str(raw_dim))
            if dimension is None:
                raise PriceListError(
                    f"resource {resource!r}: unknown dimension {raw_dim!r}"
                    " (expected CPU, RAM or NetFlow)"
                )
            prices[dimension] = _parse_amount(amount, resource, dimension)
        parsed[resource] = prices
    return PriceList(parsed)


MANUAL_ORIGIN = "manual"
"""The list set by hand (``PUT /api/v1/prices``, ``usagelens prices``)."""
LEGACY_ORIGIN = "legacy"
"""The one list a store kept before lists were kept per origin."""
MANUAL_RANK = 1_000_000
"""The hand-set list wins over every source."""
LEGACY_RANK = -1
"""The list from before is the fallback under every source."""


@dataclass(frozen=True, slots=True)
class OriginPrices:
    """One origin's price list: a monitoring source's, or the one set by hand.

    Lists are kept apart so that each is replaced only by a new list from its own origin.
    For a resource priced by several, the list of the highest ``rank`` wins: the hand-set
    list, then the sources (a later one in the configured order ranks higher), then the
    list a store held before it kept lists per origin.
    """

    origin: str
    rank: int
    prices: PriceList


def effective_prices(lists: Iterable[OriginPrices]) -> PriceList:
    """Merge origins' lists into the prices in force: by resource, the highest rank wins."""
    ordered = sorted(lists, key=lambda entry: (entry.rank, entry.origin))
    return merge_price_lists(entry.prices for entry in ordered)


def merge_price_lists(lists: Iterable[PriceList]) -> PriceList:
    """Merge price lists in order; for a resource priced by several, the later list wins."""
    merged: dict[str, Mapping[Dimension, float]] = {}
    for price_list in lists:
        merged.update(price_list.values)
    return PriceList(merged)


def _plain(amount: float) -> float:
    """Write whole amounts as integers, the way the module does."""
    return int(amount) if amount.is_integer() else amount


def _parse_amount(amount: object, resource: str, dimension: Dimension) -> float:
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        raise PriceListError(
            f"resource {resource!r}, {dimension}: price {amount!r} is not a number"
        )
    value = float(amount)
    if not math.isfinite(value) or value < 0:
        raise PriceListError(
            f"resource {resource!r}, {dimension}: price {amount!r} must be a non-negative number"
        )
    return value
