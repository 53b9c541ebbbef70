"""Price lists: the price of each dimension of each resource for the billing period."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from usagelens.domain.errors import PriceListError
from usagelens.domain.ids import name_problem
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
        if (problem := name_problem(resource)) is not None:
            raise PriceListError(f"resource id {problem}")
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


@dataclass(frozen=True, slots=True)
class OriginPrices:
    """One origin's price list: a monitoring source's, or the one set by hand.

    Lists are kept apart so that each is replaced only by a new list from its own origin;
    which wins where several price the same resource and dimension is decided when the
    prices are read (``prices_in_force``), from the configuration of the moment.
    """

    origin: str
    prices: PriceList
    updated_at: datetime | None = None
    """When this list arrived (aware UTC); None for a list not stored yet."""


def precedence(lists: Iterable[OriginPrices], source_order: Sequence[str]) -> list[OriginPrices]:
    """Order origins' lists from the one that wins to the one that yields.

    The hand-set list first; then the sources of ``source_order`` (today's configured
    ``USAGELENS_SOURCES``), a later one before an earlier one; then sources no longer
    configured, the list that arrived last first; the ``legacy`` list last.
    """
    position = {_plain_url(url): i for i, url in enumerate(source_order)}

    def strength(entry: OriginPrices) -> tuple[int, float, str]:
        if entry.origin == MANUAL_ORIGIN:
            return (3, 0.0, entry.origin)
        if entry.origin == LEGACY_ORIGIN:
            return (0, 0.0, entry.origin)
        configured = position.get(_plain_url(entry.origin))
        if configured is not None:
            return (2, float(configured), entry.origin)
        arrived = entry.updated_at.timestamp() if entry.updated_at is not None else 0.0
        return (1, arrived, entry.origin)

    return sorted(lists, key=strength, reverse=True)


def prices_in_force(lists: Iterable[OriginPrices], source_order: Sequence[str]) -> PriceList:
    """Merge origins' lists per (resource, dimension): the stronger list wins each price.

    A hand-set list that prices only a resource's CPU overrides that CPU price and
    leaves the resource's RAM and NetFlow to the sources (see ``precedence``).
    """
    merged: dict[str, dict[Dimension, float]] = {}
    for entry in reversed(precedence(lists, source_order)):
        for resource, dims in entry.prices.values.items():
            merged.setdefault(resource, {}).update(dims)
    return PriceList(merged)


def _plain_url(url: str) -> str:
    """Compare source URLs as the sources name themselves (no trailing slash)."""
    return url.rstrip("/")


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
