"""The fleet screen with 20 deployments, one of them a storage that accepts connections and never answers:
the time to the first screen (every row shown, loading), to the 19 answering rows filled in, and each key's
latency while the hanging row is still loading (measured as bench.dashboard_scale measures keys).

Usage: python -m bench.fleet_scale [DEPLOYMENTS]"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.dashboard_scale import press_timed
from engine.fleet.file import load_fleet
from engine.fleet.rows import RowState
from tests.test_fleet import Hanging, healthy_history
from vaultui.app import make_app
from vaultui.settings import AppSettings, FleetSettings

KEYS = ("down", "down", "up", "question_mark", "escape", "end", "home", "j", "k")


async def measure(path: Path, now: datetime) -> tuple[float, float, list[tuple[str, float]], bool]:
    base = AppSettings(storage_url="", refresh_seconds=0, clock=lambda: now)
    app = make_app(base, fleet=FleetSettings(load_fleet(path), base, deadline=600.0))
    start = time.perf_counter()
    latencies: list[tuple[str, float]] = []
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        while len(getattr(screen, "shown", [])) == 0:
            await pilot.pause(0.005)
        first = time.perf_counter() - start
        answering = len(screen.rows) - 1
        while sum(row.state == RowState.OK for row in screen.rows.values()) < answering:
            await pilot.pause(0.005)
        filled = time.perf_counter() - start
        for key in KEYS * 3:
            await press_timed(pilot, key, latencies)
        still_loading = screen.rows["hangs"].state == RowState.LOADING
    return first, filled, latencies, still_loading


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    now = datetime.now(UTC)
    hanging = Hanging()
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        lines = []
        for index in range(count - 1):
            folder = root / f"d{index:02d}"
            healthy_history(str(folder), now)
            lines.append(f'[deployments.d{index:02d}]\nstorage = "{folder}"\n')
        lines.append(f'[deployments.hangs]\nstorage = "s3://vaultui-hangs/p?endpoint=http://127.0.0.1:{hanging.port}"\n')
        path = root / "fleet.toml"
        path.write_text("\n".join(lines))
        import os

        os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
        first, filled, latencies, still_loading = asyncio.run(measure(path, now))
    hanging.close()
    times = [seconds * 1000 for _, seconds in latencies]
    print(f"fleet of {count} deployments, one storage that never answers")
    print(f"  first screen (every row, loading)       {first * 1000:7.0f} ms")
    print(f"  {count - 1} answering rows filled in            {filled * 1000:7.0f} ms")
    print(
        f"  key latency while one row still loads   median {statistics.median(times):.1f} ms, "
        f"max {max(times):.1f} ms over {len(times)} keys (hanging row still loading: {still_loading})"
    )


if __name__ == "__main__":
    main()
