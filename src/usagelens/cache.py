"""Results kept per data version: computed once per change, shared by every request."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class VersionedCache:
    """Remember the result of a computation for a key until the data version changes.

    One thread computes a missing entry while others asking for the same key wait for
    it, so a burst of requests after a write costs one computation, not one each.
    """

    def __init__(self, max_entries: int = 64) -> None:
        self._entries: OrderedDict[Hashable, tuple[int, Any]] = OrderedDict()
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()
        self._max = max_entries

    def peek(self, key: Hashable, version: int) -> Any:
        """Return the entry for (key, version), or None."""
        entry = self._entries.get(key)
        return entry[1] if entry is not None and entry[0] == version else None

    def get(self, key: Hashable, version: int, compute: Callable[[], T]) -> T:
        """Return the entry for (key, version), computing it if it is missing or older."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] == version:
            return entry[1]  # type: ignore[no-any-return]
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == version:
                return entry[1]  # type: ignore[no-any-return]
            value = compute()
            with self._guard:
                current = self._entries.get(key)
                if current is None or current[0] <= version:
                    self._entries[key] = (version, value)
                    self._entries.move_to_end(key)
                while len(self._entries) > self._max:
                    old, _ = self._entries.popitem(last=False)
                    self._locks.pop(old, None)
            return value

    def clear(self) -> None:
        """Forget every entry."""
        with self._guard:
            self._entries.clear()
