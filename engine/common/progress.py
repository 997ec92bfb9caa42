"""Progress of long work (dump, upload, restore, verify), reported through a plain callback."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from engine.common.faults import checkpoint


@dataclass(frozen=True)
class Progress:
    """A snapshot of one run's progress. `total_*` are estimates and may be None when unknown."""

    phase: str
    done_bytes: int
    total_bytes: int | None
    done_documents: int
    total_documents: int | None
    current: str
    elapsed_seconds: float
    finished: bool = False

    @property
    def fraction(self) -> float | None:
        """Share done, by bytes when their total is known, else by documents."""
        if self.total_bytes:
            return min(1.0, self.done_bytes / self.total_bytes)
        if self.total_documents:
            return min(1.0, self.done_documents / self.total_documents)
        return None

    @property
    def eta_seconds(self) -> float | None:
        fraction = self.fraction
        if not fraction or self.finished:
            return None
        return self.elapsed_seconds * (1 - fraction) / fraction


ProgressCallback = Callable[[Progress], None]


class Cancelled(KeyboardInterrupt):
    """Raised by a progress callback to stop a run at that report (the dashboard's cancel): it unwinds the run
    as ctrl-c does the CLI's, so writes are aborted and the run is recorded as interrupted."""


class ProgressTracker:
    """Thread-safe counters shared by parallel workers; calls the callback at most every `interval` seconds
    (and always for the final snapshot), so a fast loop never floods a terminal or a UI."""

    def __init__(
        self,
        phase: str,
        callback: ProgressCallback | None,
        total_bytes: int | None = None,
        total_documents: int | None = None,
        interval: float = 0.2,
    ) -> None:
        self.phase = phase
        self._callback = callback
        self.total_bytes = total_bytes
        self.total_documents = total_documents
        self._interval = interval
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._last_report = 0.0
        self.done_bytes = 0
        self.done_documents = 0
        self.current = ""

    def advance(self, *, byte_count: int = 0, documents: int = 0, current: str | None = None) -> None:
        checkpoint(f"{self.phase}.progress")
        with self._lock:
            self.done_bytes += byte_count
            self.done_documents += documents
            if current is not None:
                self.current = current
            now = time.monotonic()
            if self._callback is None or now - self._last_report < self._interval:
                return
            self._last_report = now
            snapshot = self._snapshot(finished=False)
        self._callback(snapshot)

    def finish(self) -> None:
        if self._callback is not None:
            with self._lock:
                snapshot = self._snapshot(finished=True)
            self._callback(snapshot)

    def _snapshot(self, finished: bool) -> Progress:
        return Progress(
            self.phase,
            self.done_bytes,
            self.total_bytes,
            self.done_documents,
            self.total_documents,
            self.current,
            time.monotonic() - self._start,
            finished,
        )
