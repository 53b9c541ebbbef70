"""Pausing the cyclic garbage collector around work that makes many objects and no cycles."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while tens of thousands of objects are made.

    Rows, aggregates and rendered lines hold no cycles (reference counting frees them);
    with the collector on, the collections their making sets off walk the millions of
    objects the read model keeps: that doubled the time of advancing it over 50,400
    changed series, and was 0.9 s of a 3.1 s write of one hour for 50,040 series. What
    cyclic garbage other threads make meanwhile waits for the next collection. Threads
    may nest it: the collector is switched on again by the one that found it on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


__all__ = ["collector_paused"]
