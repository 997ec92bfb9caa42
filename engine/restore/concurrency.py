"""How many of a restore's insert workers send at once: as many as make the server faster, found by measuring.

More writers are not always faster. MongoDB's WiredTiger locks per document, so inserts into one collection
scale with writers up to the server's cores, and mongorestore's --numInsertionWorkersPerCollection is made for
that. A server that takes one write at a time (FerretDB on SQLite: one writer per database file, the others
sleeping in SQLite's busy handler) is fastest with two writers (one writing while the other's batch is being
parsed) and slower with eight than with one: measured on the bed, a bare insert_many of 60 MB from memory over
1, 2 and 8 connections took 3.0, 2.5 and 3.0 s. The gate starts at two, doubles while each step up gains more
than the noise, settles on the best level measured, and keeps probing one step up and down now and then, so a
server that frees up (or gets busy) is followed. With one worker there is nothing to choose.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

WINDOW_BATCHES = 6  # batches finished per measurement (about 6 MB of ~1 KB documents)
GAIN = 1.05  # a level must beat the best by this much to be taken (FerretDB's run-to-run noise is ~5 %)
REPROBE_WINDOWS = 12  # settled windows between two probes of a neighbouring level


class InsertGate:
    """Lets at most `allowed` inserts run at once; `enter`/`leave` wrap each insert, `leave` with its bytes."""

    def __init__(self, workers: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.workers = max(1, workers)
        self._clock = clock
        self._levels = sorted({level for level in (1, 2, 4, 8, 16, 32, 64) if level < self.workers} | {self.workers})
        self._index = self._levels.index(min(2, self.workers))
        self._rates: dict[int, float] = {}  # bytes per second measured at each level, the newest
        self._climbing = True  # until the first level is settled on
        self._probing_from: int | None = None  # the settled level a probe left, to return to it
        self._settled_windows = 0
        self._probes = 0
        self._window_bytes = 0
        self._window_batches = 0
        self._window_started = clock()
        self._active = 0
        self._changed = threading.Condition()

    @property
    def allowed(self) -> int:
        return self._levels[self._index]

    def enter(self) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._active < self.allowed)
            self._active += 1

    def leave(self, byte_count: int) -> None:
        with self._changed:
            self._active -= 1
            self._window_bytes += byte_count
            self._window_batches += 1
            if self.workers > 1 and self._window_batches >= WINDOW_BATCHES * self.allowed:
                self._measured()
            self._changed.notify_all()

    def _measured(self) -> None:
        now = self._clock()
        level = self.allowed
        self._rates[level] = self._window_bytes / max(now - self._window_started, 1e-6)
        self._window_bytes, self._window_batches, self._window_started = 0, 0, now
        if self._climbing:  # up while each step gains
            lower = self._levels[self._index - 1] if self._index > 0 else None
            if lower is not None and lower in self._rates and self._rates[level] < GAIN * self._rates[lower]:
                self._settle(lower)
            elif self._index + 1 < len(self._levels):
                self._index += 1
            else:
                self._settle(level)
            return
        if self._probing_from is not None:  # a probe ended: keep it only if it gained
            settled, self._probing_from = self._probing_from, None
            self._settle(level if self._rates[level] > GAIN * self._rates.get(settled, 0.0) else settled)
            return
        self._settled_windows += 1
        if self._settled_windows >= REPROBE_WINDOWS:  # look one step up, and the next time one step down
            self._settled_windows = 0
            self._probes += 1
            neighbour = self._index + (1 if self._probes % 2 else -1)
            if 0 <= neighbour < len(self._levels):
                self._probing_from, self._index = level, neighbour

    def _settle(self, level: int) -> None:
        self._climbing = False
        self._index = self._levels.index(level)
        self._settled_windows = 0
