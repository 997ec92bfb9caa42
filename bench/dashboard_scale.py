"""How fast the dashboard's first screen comes up on a big storage: 10,000 archives and 5,000 ledger records
in a folder. Prints the time of each step the first screen waits for, and the time to a filled table.

Usage: python -m bench.dashboard_scale [ARCHIVES] [RECORDS]"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from textual.widgets import DataTable

from engine.catalog import list_archives
from engine.ledger import list_runs, record_run
from engine.storage import open_storage
from tests.history import record
from vaultui.app import make_app
from vaultui.settings import AppSettings


def build(folder: Path, archives: int, records: int, now: datetime) -> None:
    storage = open_storage(str(folder))
    for index in range(archives):  # several a day: 10,000 archives over ~100 days
        moment = now - timedelta(minutes=15 * (index + 1))
        name = moment.strftime("%Y%m%dT%H%M%SZ") + ".tar.zst"
        (folder / name).write_bytes(b"x")
        (folder / f"{name}.manifest.json").write_text("{}")
    for index in range(records):
        record_run(storage, record("backup", now - timedelta(minutes=29 * (index + 1)), "success"))


async def first_screen(folder: Path, now: datetime) -> tuple[float, float]:
    """Seconds from start to the archives table's first rows (from the listing), and to the full status."""
    app = make_app(AppSettings(storage_url=str(folder), refresh_seconds=0, clock=lambda: now))
    start = time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one("#archives", DataTable)
        while table.row_count == 0:
            await pilot.pause(0.005)
        rows = time.perf_counter() - start
        while app.summary is None:
            await pilot.pause(0.01)
        await pilot.pause()
        return rows, time.perf_counter() - start


def timed(label: str, action) -> None:  # noqa: ANN001
    start = time.perf_counter()
    action()
    print(f"{label:<46} {time.perf_counter() - start:7.3f} s")


def main() -> None:
    archives = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    records = int(sys.argv[2]) if len(sys.argv) > 2 else 5_000
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        build(folder, archives, records, now)
        storage = open_storage(str(folder))
        print(f"{archives:,} archives and {records:,} ledger records in a folder\n")
        timed("list archives (one listing)", lambda: list_archives(storage))
        timed("read every ledger record", lambda: list_runs(storage))
        timed(
            "read the 30-day window's records only",
            lambda: list_runs(storage, "backup", since=now - timedelta(days=31)),
        )
        os.environ["XDG_CACHE_HOME"] = str(folder / ".cache")  # a ledger cache of this run only: cold, then warm
        for label in ("cold", "warm"):
            rows, full = asyncio.run(first_screen(folder, now))
            print(f"{'dashboard, ' + label + ' cache: first rows':<46} {rows:7.3f} s")
            print(f"{'dashboard, ' + label + ' cache: full status':<46} {full:7.3f} s")


if __name__ == "__main__":
    main()
