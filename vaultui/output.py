"""How headless commands report: a progress bar on a terminal, one JSON line per event otherwise."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

import humanize
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from engine.common.printable import printable, printable_json
from engine.common.progress import Progress as EngineProgress


def json_text(value: Any, indent: int | None = None) -> str:
    """JSON for output: valid UTF-8 whatever bytes the names held (engine.common.printable), anything else as str."""
    return json.dumps(printable_json(value), indent=indent, default=lambda other: printable(str(other)))


def print_json(value: Any, indent: int | None = None) -> None:
    print(json_text(value, indent))


def log_event(event: str, stream: TextIO | None = None, **fields: Any) -> None:
    """One JSON object per line on stderr: what a CronJob's log collector wants."""
    record = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "event": event, **fields}
    print(json_text(record), file=stream or sys.stderr, flush=True)


class ProgressReporter:
    """Turns engine progress snapshots into a live bar (TTY) or throttled JSON lines (logs)."""

    def __init__(self, stream: TextIO | None = None, interactive: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._last_line = 0.0

    def __call__(self, snapshot: EngineProgress) -> None:
        if self.interactive:
            self._draw(snapshot)
        elif snapshot.finished or time.monotonic() - self._last_line >= 5:
            self._last_line = time.monotonic()
            log_event(
                f"{snapshot.phase}.progress",
                self.stream,
                documents=snapshot.done_documents,
                total_documents=snapshot.total_documents,
                bytes=snapshot.done_bytes,
                current=snapshot.current,
                eta_seconds=None if snapshot.eta_seconds is None else round(snapshot.eta_seconds, 1),
            )

    def _draw(self, snapshot: EngineProgress) -> None:
        if self._bar is None:
            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(snapshot.phase, total=None, detail="")
        assert self._task is not None
        total = snapshot.total_documents
        detail = f"{humanize.intcomma(snapshot.done_documents)} docs"
        if snapshot.done_bytes:
            detail += f", {humanize.naturalsize(snapshot.done_bytes, binary=True)}"
        detail += f"  {snapshot.current}"
        self._bar.update(self._task, completed=snapshot.done_documents, total=total, detail=detail)
        if snapshot.finished:
            self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
