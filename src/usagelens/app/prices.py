"""Prices: each origin's list kept apart, the prices in force merged from them when read."""

from __future__ import annotations

from collections.abc import Sequence

from usagelens.app.policy import PolicyGuard
from usagelens.documents import load_price_list
from usagelens.domain.errors import LeaseLost
from usagelens.domain.ids import check_locator
from usagelens.domain.prices import (
    MANUAL_ORIGIN,
    OriginPrices,
    PriceList,
    precedence,
    prices_in_force,
)
from usagelens.ports import Clock, Store


class Prices:
    """Replace, drop and read origins' price lists.

    ``source_order`` is today's configured sources: it decides which list wins a price
    (``domain.prices.precedence``), so reordering the setting needs no new pull.
    """

    def __init__(
        self,
        store: Store,
        guard: PolicyGuard,
        clock: Clock,
        source_order: Sequence[str] = (),
    ) -> None:
        self.store = store
        self.guard = guard
        self.clock = clock
        self.source_order = tuple(source_order)

    def replace_prices(self, payload: bytes | str, *, origin: str = MANUAL_ORIGIN) -> PriceList:
        """Parse a price list (YAML or JSON) and make it the whole list of its origin.

        The default origin is the hand-set list; another origin is a source's URL.
        """
        check_locator(origin, "origin")
        price_list = load_price_list(payload)
        self.store_price_lists([OriginPrices(origin, price_list)])
        return price_list

    def store_price_lists(
        self, lists: Sequence[OriginPrices], *, fence: int | None = None
    ) -> list[str]:
        """Replace these origins' lists in one transaction and leave the others; return
        the origins whose list is now stored.

        An entry's ``updated_at`` is when it was fetched (None: now). A list fetched
        before the one stored for its origin is stale and left out, so a slow pull
        cannot overwrite a newer one. ``fence`` is a refresh's lease token: the whole
        write is refused (LeaseLost) once that lease has run out or been taken over.
        """
        for entry in lists:
            check_locator(entry.origin, "origin")
        now = self.clock()
        with self.store.write() as uow:
            self.guard.writable(uow)
            if fence is not None and not uow.refresh.holds(fence):
                raise LeaseLost("the refresh lease ran out: its price lists were not stored")
            arrived = {entry.origin: entry.updated_at for entry in uow.read.price_lists()}
            stored = []
            for entry in lists:
                at = entry.updated_at or now
                previous = arrived.get(entry.origin)
                if previous is not None and previous > at:
                    continue
                uow.prices.put_list(entry, at)
                stored.append(entry.origin)
            if stored:
                uow.state.bump()
                uow.commit()
        return stored

    def drop_prices(self, origin: str) -> bool:
        """Forget one origin's list (a retired source, or the hand-set list); tell if it was."""
        check_locator(origin, "origin")
        with self.store.write() as uow:
            self.guard.writable(uow)
            dropped = uow.prices.drop_list(origin)
            if dropped:
                uow.state.bump()
                uow.commit()
        return dropped

    def prices(self, origin: str | None = None) -> PriceList:
        """Return the prices in force, or one origin's list (empty if it has none)."""
        if origin is not None:
            check_locator(origin, "origin")
        with self.store.read() as queries:
            lists = queries.price_lists()
        if origin is None:
            return prices_in_force(lists, self.source_order)
        return next((e.prices for e in lists if e.origin == origin), PriceList({}))

    def price_lists(self) -> list[OriginPrices]:
        """Return every origin's list, the one that wins first (see ``precedence``)."""
        with self.store.read() as queries:
            return precedence(queries.price_lists(), self.source_order)


__all__ = ["Prices"]
