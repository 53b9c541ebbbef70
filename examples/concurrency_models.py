"""Wait for five simulated network calls three ways, then show a race condition and its fix.

Run ``python examples/concurrency_models.py`` (about 18 s) or add ``--scale 0.1`` to shrink
every sleep tenfold. See concurrency_models.md for what the output means.
"""

from __future__ import annotations

import argparse
import asyncio
import queue
import threading
import time
from collections.abc import Callable, Sequence

DELAYS = (0.0, 1.0, 2.0, 3.0, 4.0)  # seconds each simulated call takes to answer
LIMIT = 100  # how many items the race demonstration fills its list with
THREADS = 8  # how many threads race to fill it


def call(number: int, delay: float) -> str:
    """Wait like a network call that takes ``delay`` seconds; return its reply."""
    time.sleep(delay)
    return f"reply {number}"


async def call_async(number: int, delay: float) -> str:
    """Wait like ``call``, but give the event loop back while waiting."""
    await asyncio.sleep(delay)
    return f"reply {number}"


def run_sequential(scale: float = 1.0) -> list[str]:
    """Make the calls one after another: the waits add up."""
    return [call(number, delay * scale) for number, delay in enumerate(DELAYS)]


def run_threads(scale: float = 1.0) -> list[str]:
    """Make each call in its own thread; the threads hand their replies over a queue."""
    replies: queue.Queue[str] = queue.Queue()

    def worker(number: int, delay: float) -> None:
        replies.put(call(number, delay))

    threads = [
        threading.Thread(target=worker, args=(number, delay * scale))
        for number, delay in enumerate(DELAYS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [replies.get_nowait() for _ in threads]


def run_asyncio(scale: float = 1.0) -> list[str]:
    """Make each call an asyncio task on one thread and wait for all of them."""

    async def main() -> list[str]:
        tasks = [
            asyncio.create_task(call_async(number, delay * scale))
            for number, delay in enumerate(DELAYS)
        ]
        done, _ = await asyncio.wait(tasks)
        return [task.result() for task in done]

    return asyncio.run(main())


MODELS: dict[str, Callable[[float], list[str]]] = {
    "sequential": run_sequential,
    "threads": run_threads,
    "asyncio": run_asyncio,
}


def timed(run: Callable[[float], list[str]], scale: float) -> tuple[float, list[str]]:
    """Run one model; return its wall time in seconds and its replies."""
    start = time.perf_counter()
    replies = run(scale)
    return time.perf_counter() - start, replies


def fill(limit: int = LIMIT, threads: int = THREADS, lock: threading.Lock | None = None) -> int:
    """Let ``threads`` threads append to one list while it is shorter than ``limit``.

    Without a lock, a thread can check the length, be paused, and append after the others
    have already reached the limit: the list overshoots by up to ``threads - 1`` items.
    With a lock held across the check and the append, it stops at exactly ``limit``.
    Return the list's final length.
    """
    shared: list[int] = []

    def unlocked() -> None:
        while len(shared) < limit:
            time.sleep(0)  # let another thread run between the check and the append
            shared.append(1)

    def locked(lock: threading.Lock) -> None:
        while True:
            with lock:
                if len(shared) >= limit:
                    return
                time.sleep(0)  # the same pause, harmless now: nobody else can append
                shared.append(1)

    if lock is None:
        workers = [threading.Thread(target=unlocked) for _ in range(threads)]
    else:
        workers = [threading.Thread(target=locked, args=(lock,)) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return len(shared)


def main(argv: Sequence[str] | None = None) -> None:
    """Print each model's wall time, then the race with and without a lock."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply every sleep by this (default 1)"
    )
    scale = parser.parse_args(argv).scale

    for name, run in MODELS.items():
        seconds, replies = timed(run, scale)
        print(f"{name + ':':<11} {seconds:6.2f} s, {len(replies)} of {len(DELAYS)} calls answered")

    unlocked = fill()
    print(
        f"race without a lock: {THREADS} threads stopped at {unlocked} items, "
        f"{unlocked - LIMIT} past the limit of {LIMIT}"
    )
    locked = fill(lock=threading.Lock())
    print(
        f"race with a lock:    {THREADS} threads stopped at {locked} items, "
        f"{locked - LIMIT} past the limit of {LIMIT}"
    )


if __name__ == "__main__":
    main()
