"""A graceful stop on SIGTERM: readiness turns false first, then the server stops.

uvicorn stops a worker on SIGTERM: it closes its listening socket, lets the requests in
flight finish (within ``USAGELENS_SHUTDOWN_TIMEOUT``) and runs the lifespan's shutdown.
``Drain`` goes before that: it wraps the worker's SIGTERM handler so that ``/readyz``
answers 503 at once and the worker keeps serving for ``USAGELENS_SHUTDOWN_DRAIN``
seconds, long enough for a load balancer to stop sending it new requests, before it
hands the signal on to uvicorn.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

log = logging.getLogger("usagelens.api")

__all__ = ["Drain"]


class Drain:
    """The process's shutdown state, and the SIGTERM hook that starts it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.draining = False
        self._previous: Any = None

    def install(self) -> None:
        """Wrap the current SIGTERM handler (uvicorn's); only the main thread can."""
        if threading.current_thread() is not threading.main_thread():
            return
        self._previous = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, self._on_term)

    def uninstall(self) -> None:
        """Put the wrapped handler back."""
        if self._previous is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None

    def _on_term(self, sig: int, frame: FrameType | None) -> None:
        if self.draining:  # a second SIGTERM: stop now
            self._hand_on(sig, frame)
            return
        self.draining = True
        log.info("SIGTERM: readiness is false; stopping in %.1f s", self.seconds)
        if self.seconds <= 0:
            self._hand_on(sig, frame)
            return
        timer = threading.Timer(self.seconds, self._hand_on, args=(sig, frame))
        timer.daemon = True
        timer.start()

    def _hand_on(self, sig: int, frame: FrameType | None) -> None:
        previous = self._previous
        if callable(previous):
            previous(sig, frame)
        elif previous in (signal.SIG_DFL, None):
            signal.raise_signal(sig)
