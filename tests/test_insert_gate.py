"""The insert gate (engine.restore.concurrency) settles on the concurrency the server is fastest with: two on
a one-writer server like FerretDB's SQLite, every worker on a server whose inserts scale like MongoDB's, and it
follows a server that changes. Driven by a simulated server: each batch takes its bytes / the server's rate at
the level allowed when it ran, on a clock the test advances."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from engine.restore.concurrency import InsertGate

BATCH = 1_000_000


def run_batches(gate: InsertGate, rate: Callable[[int], float], batches: int) -> list[int]:
    """The level allowed at each batch, the simulated server taking `rate(level)` bytes per second."""
    now = [0.0]
    gate._clock = lambda: now[0]  # type: ignore[method-assign]
    gate._window_started = 0.0
    seen = []
    for _ in range(batches):
        level = gate.allowed
        seen.append(level)
        gate.enter()
        now[0] += BATCH / rate(level)
        gate.leave(BATCH)
    return seen


ONE_WRITER = {1: 20e6, 2: 24e6, 4: 22e6, 8: 20e6}  # FerretDB on SQLite, as measured on the bed


def test_a_one_writer_server_gets_two() -> None:
    seen = run_batches(InsertGate(8), ONE_WRITER.__getitem__, 400)
    assert seen[0] == 2 and seen[-50:].count(2) > 40  # probes of 1 and 4 now and then, settled on 2


def test_a_server_that_scales_gets_every_worker() -> None:
    seen = run_batches(InsertGate(8), lambda level: 10e6 * level, 400)
    assert seen[-50:].count(8) > 40


def test_gains_within_the_noise_do_not_move_it() -> None:
    seen = run_batches(InsertGate(8), lambda level: 20e6 * (1 + 0.01 * level), 400)
    assert seen[-50:].count(2) > 40


def test_it_follows_a_server_that_frees_up() -> None:
    gate = InsertGate(8)
    run_batches(gate, ONE_WRITER.__getitem__, 200)
    seen = run_batches(gate, lambda level: 10e6 * level, 1500)
    assert seen[-50:].count(8) > 40


@pytest.mark.parametrize("workers", [1, 3])
def test_never_more_than_the_workers(workers: int) -> None:
    seen = run_batches(InsertGate(workers), lambda level: 10e6 * level, 300)
    assert max(seen) == workers and min(seen) >= 1


def test_threads_past_the_allowed_level_wait() -> None:
    gate = InsertGate(8)  # starts at two
    inside, most = [0], [0]
    lock, release = threading.Lock(), threading.Event()

    def insert() -> None:
        gate.enter()
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        release.wait(5)
        with lock:
            inside[0] -= 1
        gate.leave(BATCH)

    threads = [threading.Thread(target=insert) for _ in range(6)]
    for thread in threads:
        thread.start()
    with gate._changed:
        gate._changed.wait_for(lambda: gate._active == 2, timeout=5)
    release.set()
    for thread in threads:
        thread.join(5)
    assert most[0] == 2 and gate._active == 0
