"""What each tool costs the machine it runs on, side by side in one run: wall time, client CPU seconds (user +
sys) per GB of BSON, and peak RSS, for vaultui's commands and the real Go tools on the same data, plus the
server's ceiling (a bare raw `find` and a bare `insert_many` of the same documents with pymongo), so each row
reads as a fraction of what the server allows. Every tool runs as its own process (os.wait4 gives its CPU and
peak RSS); vaultui's figures include its start-up.

Usage: python -m bench.client_cost [DOCUMENTS]   (default 100000; `make bench SIZE=…`)"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pymongo
from bson.raw_bson import RawBSONDocument

from tests.bed import servers
from tests.helpers import VAULTUI, run_measured, seed

DATABASE = "bench"


@dataclass
class Cost:
    label: str
    wall: float
    cpu: float
    rss_mb: float


def run(label: str, command: list[str], env: dict[str, str] | None = None) -> Cost:
    """One process, to its end: wall time, its CPU (user + sys) and its peak RSS (from a small launcher)."""
    start = time.perf_counter()
    done, cpu, rss = run_measured(command, env)
    if done.returncode != 0:
        raise SystemExit(f"{label} failed: {done.stderr[-2000:]}")
    return Cost(label, time.perf_counter() - start, cpu, rss)


def in_process(label: str, action) -> Cost:  # noqa: ANN001 - a call whose CPU is this process's
    before = os.times()
    start = time.perf_counter()
    action()
    wall = time.perf_counter() - start
    after = os.times()
    return Cost(label, wall, (after.user - before.user) + (after.system - before.system), float("nan"))


def main() -> None:
    documents = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    binaries = servers.binary_paths()
    server = servers.start_ferretdb()
    costs: list[Cost] = []
    try:
        client: pymongo.MongoClient = pymongo.MongoClient(server.url)
        seed(client, DATABASE, {"sample": documents})
        raw = client[DATABASE].get_collection("sample", codec_options=client.codec_options.with_options(
            document_class=RawBSONDocument))  # fmt: skip
        batches: list[list[RawBSONDocument]] = []
        costs.append(in_process("server ceiling: raw find", lambda: batches.append(list(raw.find()))))
        bson_gb = sum(len(document.raw) for document in batches[0]) / 1e9
        ceiling_target = client["ceiling"]["sample"]
        costs.append(in_process("server ceiling: insert_many", lambda: ceiling_target.insert_many(batches[0])))
        batches.clear()
        with tempfile.TemporaryDirectory() as scratch:
            work = Path(scratch)
            dumped = work / "dump.archive.gz"
            dump = [
                str(binaries["mongodump"]),
                f"--uri={server.url}",
                f"--db={DATABASE}",
                f"--archive={dumped}",
                "--gzip",
            ]
            costs.append(run("mongodump --archive --gzip", dump))
            for workers in (1, 8):
                costs.append(
                    run(
                        f"mongorestore --archive --gzip, {workers} worker{'s' if workers > 1 else ''}",
                        [str(binaries["mongorestore"]), f"--uri={server.url}", "--noIndexRestore",
                         f"--archive={dumped}", "--gzip", f"--nsFrom={DATABASE}.*", f"--nsTo=r_go{workers}.*",
                         f"--numInsertionWorkersPerCollection={workers}"],
                    )
                )  # fmt: skip
            folders = {}
            for codec in ("zstd", "gzip"):
                folders[codec] = work / codec
                folders[codec].mkdir()
                env = {"VAULTUI_MONGO_URI": server.url, "VAULTUI_STORAGE": str(folders[codec])}
                costs.append(run(f"vaultui backup, {codec}", [VAULTUI, "--headless", "backup", "--db", DATABASE,
                                                              "--codec", codec], env))  # fmt: skip
            env = {"VAULTUI_TARGET_URI": server.url, "VAULTUI_STORAGE": str(folders["zstd"])}
            costs.append(run("vaultui verify (framed, sha256)", [VAULTUI, "--headless", "verify", "--all"], env))
            for label, extra in (
                ("vaultui restore, single pass, 4 workers", ["--insert-workers", "4"]),
                ("vaultui restore, single pass, 8 workers", ["--insert-workers", "8"]),
                ("vaultui restore, two pass, 8 workers", ["--insert-workers", "8", "--two-pass"]),
            ):
                target = f"r_{len(costs)}"
                costs.append(run(label, [VAULTUI, "--headless", "restore", "--latest", "--ns-from", f"{DATABASE}.*",
                                         "--ns-to", f"{target}.*", *extra], env))  # fmt: skip
    finally:
        server.stop()

    print(f"sample: {documents:,} documents, {bson_gb * 1000:.1f} MB of BSON, FerretDB 1.24 (SQLite), 2 cores\n")
    print(f"{'step':<44} {'wall s':>7} {'CPU s':>6} {'CPU s/GB':>9} {'peak RSS MB':>12}")
    for cost in costs:
        rss = "" if cost.rss_mb != cost.rss_mb else f"{cost.rss_mb:.0f}"
        print(f"{cost.label:<44} {cost.wall:7.2f} {cost.cpu:6.2f} {cost.cpu / bson_gb:9.1f} {rss:>12}")
    by = {cost.label: cost for cost in costs}
    print()
    for ours, theirs in (
        ("vaultui backup, zstd", "mongodump --archive --gzip"),
        ("vaultui backup, gzip", "mongodump --archive --gzip"),
        ("vaultui restore, single pass, 8 workers", "mongorestore --archive --gzip, 8 workers"),
        ("vaultui restore, single pass, 4 workers", "mongorestore --archive --gzip, 1 worker"),
    ):
        print(f"CPU {ours} / {theirs}: {by[ours].cpu / by[theirs].cpu:.2f}x")
    for label in ("vaultui restore, single pass, 8 workers", "mongorestore --archive --gzip, 8 workers"):
        ceiling = by["server ceiling: insert_many"].wall
        print(f"wall {label} / server ceiling (insert_many): {by[label].wall / ceiling:.2f}x")
    print(json.dumps({cost.label: [round(cost.wall, 2), round(cost.cpu, 2)] for cost in costs}))


if __name__ == "__main__":
    main()
