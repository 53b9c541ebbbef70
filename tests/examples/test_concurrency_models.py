"""The concurrency lesson: the timings of the three models, the race and its fix."""

from __future__ import annotations

import re
import subprocess
import sys
import threading

import pytest

from tests.examples.conftest import EXAMPLES, load_example

models = load_example(EXAMPLES / "concurrency_models.py", "concurrency_models")

SCALE = 0.05  # sleeps of 0 to 0.2 s: sequential about 0.5 s, the others about 0.2 s
EVERY_REPLY = [f"reply {number}" for number in range(len(models.DELAYS))]


@pytest.mark.parametrize("name", ["sequential", "threads", "asyncio"])
def test_every_model_answers_every_call(name: str) -> None:
    _, replies = models.timed(models.MODELS[name], SCALE)

    assert sorted(replies) == EVERY_REPLY


def test_sequential_waits_the_sum_the_others_the_longest_call() -> None:
    seconds = {name: models.timed(run, SCALE)[0] for name, run in models.MODELS.items()}
    total, longest = sum(models.DELAYS) * SCALE, max(models.DELAYS) * SCALE

    assert seconds["sequential"] >= total
    for concurrent in ("threads", "asyncio"):
        assert seconds[concurrent] >= longest
        # Sequential takes 2.5 times as long; ask only for 1.5 times, so a busy machine passes.
        assert seconds["sequential"] > 1.5 * seconds[concurrent], seconds


def test_the_locked_fill_never_overshoots() -> None:
    lengths = {models.fill(lock=threading.Lock()) for _ in range(50)}

    assert lengths == {models.LIMIT}


def test_the_unlocked_fill_overshoots_by_fewer_than_the_threads() -> None:
    # Each thread can pass the length check once before the list is full, not more: the
    # overshoot is bounded. Whether it happens in one run depends on the scheduler.
    lengths = {models.fill() for _ in range(20)}

    assert all(models.LIMIT <= length <= models.LIMIT + models.THREADS - 1 for length in lengths)


def test_the_script_prints_one_line_per_model_then_the_race() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "concurrency_models.py"), "--scale", "0.05"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = result.stdout.splitlines()

    assert len(lines) == 5, result.stdout
    seconds = {}
    for line, name in zip(lines, ["sequential", "threads", "asyncio"], strict=False):
        match = re.fullmatch(rf"{name}: +(\d+\.\d\d) s, 5 of 5 calls answered", line)
        assert match, line
        seconds[name] = float(match[1])
    assert seconds["sequential"] > 1.5 * max(seconds["threads"], seconds["asyncio"]), seconds
    assert re.fullmatch(
        r"race without a lock: 8 threads stopped at 10\d items, \d past the limit of 100", lines[3]
    )
    assert (
        lines[4] == "race with a lock:    8 threads stopped at 100 items, 0 past the limit of 100"
    )
    assert result.stderr == ""
