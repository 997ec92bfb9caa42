"""How fast the dashboard's first screen comes up on a big storage (10,000 archives and 5,000 ledger records in
a folder), and how fast it answers keys while work runs: during that first load, and during a real restore of
a 30 MB archive into FerretDB started from the dashboard. Prints the time of each step the first screen waits
for, the time to a filled table, and each key's latency: from the key's arrival to the screen having handled
it (and every message queued before it, the restore's progress included) and refreshed.

Usage: python -m bench.dashboard_scale [ARCHIVES] [RECORDS]"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pymongo
from textual.events import Key
from textual.widgets import DataTable, Input

from bench.sample import documents_for, seed_bench
from engine.archive.catalog import list_archives
from engine.backup.run import BackupOptions, run_backup
from engine.common.namespaces import NamespaceFilter
from engine.evidence.ledger import list_runs, record_run
from engine.storage import open_storage
from tests.bed import servers
from tests.history import record
from vaultui.app import make_app
from vaultui.screens.dialogs import TypedConfirmScreen
from vaultui.screens.restore import RestoreScreen
from vaultui.settings import AppSettings

# What an on-call engineer does while waiting: move, open and close the help, filter and clear it.
KEYS = ("down", "down", "up", "question_mark", "escape", "slash", "a", "escape", "end", "home")


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


async def press_timed(pilot, key: str, latencies: list[tuple[str, float]]) -> None:  # noqa: ANN001 - a Textual Pilot
    """One key, timed from its arrival to the screen having handled it (every widget's queue drained past it)
    and painted once after. Not Pilot.press: that also sleeps until the whole process goes idle, which a
    running restore never lets happen, so it would time the restore, not the key."""
    app = pilot.app
    event = Key(key, key if len(key) == 1 else None)
    event.set_sender(app)
    start = time.perf_counter()
    app._driver.send_message(event)
    await pilot._wait_for_screen()
    refreshed = asyncio.Event()
    app.screen.refresh()  # a key that changed nothing on screen would otherwise wait for no refresh at all
    app.call_after_refresh(refreshed.set)
    await refreshed.wait()
    latencies.append((key, time.perf_counter() - start))


async def keys_during_first_load(folder: Path, now: datetime) -> tuple[list[tuple[str, float]], bool]:
    """Keys pressed from the first rows until the full status has arrived (and one round at least)."""
    app = make_app(AppSettings(storage_url=str(folder), refresh_seconds=0, clock=lambda: now))
    latencies: list[tuple[str, float]] = []
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one("#archives", DataTable)
        while table.row_count == 0:
            await pilot.pause(0.005)
        overlapped = app.summary is None
        while app.summary is None or len(latencies) < len(KEYS):
            await press_timed(pilot, KEYS[len(latencies) % len(KEYS)], latencies)
    return latencies, overlapped


async def keys_during_restore(folder: Path, uri: str) -> tuple[list[tuple[str, float]], float]:
    """Starts a restore from the dashboard (form, preview, typed confirmation), goes back to the archives and
    presses keys until the restore has ended. Returns the latencies and the restore's seconds."""
    app = make_app(AppSettings(storage_url=str(folder), targets={"bench": uri}, refresh_seconds=0))
    latencies: list[tuple[str, float]] = []
    async with app.run_test(size=(120, 40)) as pilot:
        while app.summary is None:
            await pilot.pause(0.01)
        await pilot.press("r")
        assert isinstance(app.screen, RestoreScreen)
        app.screen.query_one("#ns-from", Input).value = "bench.*"
        app.screen.query_one("#ns-to", Input).value = "restored.*"
        await pilot.click("#restore")
        while not isinstance(app.screen, TypedConfirmScreen):
            await pilot.pause(0.01)
        await pilot.press(*"bench", "enter")
        start = time.perf_counter()
        while app.busy != "restore":
            await pilot.pause(0.01)
        await pilot.press("escape")  # back to the archives while the restore goes on
        while app.busy:
            await press_timed(pilot, KEYS[len(latencies) % len(KEYS)], latencies)
        seconds = time.perf_counter() - start
    return latencies, seconds


def spread(latencies: list[tuple[str, float]]) -> str:
    """Median, p95 and max, then each key's own worst: which keys are slow, not only that some are."""
    ordered = sorted(seconds for _, seconds in latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    worst: dict[str, float] = {}
    for key, seconds in latencies:
        worst[key] = max(worst.get(key, 0.0), seconds)
    by_key = ", ".join(f"{key} {seconds * 1000:.0f}" for key, seconds in sorted(worst.items(), key=lambda kv: -kv[1]))
    return (
        f"{len(ordered)} keys: median {ordered[len(ordered) // 2] * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
        f"max {ordered[-1] * 1000:.0f} ms\n  worst per key (ms): {by_key}"
    )


def restore_bed(folder: Path) -> servers.Server:
    """FerretDB holding 30 MB of bench documents, and one vaultui archive of them in `folder`."""
    server = servers.start_ferretdb()
    client: pymongo.MongoClient = pymongo.MongoClient(server.url)
    seed_bench(client, "bench", "sample", documents_for(30))
    run_backup(open_storage(str(folder)), server.url, BackupOptions(namespaces=NamespaceFilter(databases=("bench",))))
    return server


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
        latencies, overlapped = asyncio.run(keys_during_first_load(folder, now))
        during = "during the first load" if overlapped else "after the first load (it finished first)"
        print(f"\nkeys {during}: {spread(latencies)}")
    with tempfile.TemporaryDirectory() as scratch:
        server = restore_bed(Path(scratch))
        try:
            latencies, seconds = asyncio.run(keys_during_restore(Path(scratch), server.url))
        finally:
            server.stop()
        print(f"keys during a {seconds:.0f} s restore of 30 MB started from the dashboard: {spread(latencies)}")


if __name__ == "__main__":
    main()
