"""Group commit for pushed events: many requests, one transaction, each answered durable.

A push request waits until the transaction that counts its events has committed, so an
answered push is never lost. While one transaction runs, the requests that arrive queue
up and the next transaction takes them all: under load, one commit serves many requests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence

from usagelens.domain.push import PushEvent


class PushBatcher:
    """Queue pushed events and commit whatever has queued in one transaction at a time."""

    def __init__(self, record: Callable[[Sequence[PushEvent]], object]) -> None:
        self._record = record
        self._pending: list[tuple[Sequence[PushEvent], asyncio.Future[None]]] = []
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def submit(self, events: Sequence[PushEvent]) -> None:
        """Return once these events are committed; raise what the commit raised."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._wakeup = asyncio.Event()
            self._task = loop.create_task(self._run(self._wakeup), name="push-group-commit")
        assert self._wakeup is not None
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((events, done))
        self._wakeup.set()
        await done

    async def _run(self, wakeup: asyncio.Event) -> None:
        while True:
            await wakeup.wait()
            wakeup.clear()
            waiting, self._pending = self._pending, []
            if not waiting:
                continue
            events = [event for group, _ in waiting for event in group]
            try:
                await asyncio.to_thread(self._record, events)
            except Exception as exc:  # every waiting request learns the commit failed
                for _, done in waiting:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for _, done in waiting:
                    if not done.done():
                        done.set_result(None)

    async def close(self) -> None:
        """Stop the committing task (after in-flight requests have been answered)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
