"""What each tool costs the machine it runs on, side by side in one run per size: wall time, client CPU
seconds (user + sys) per GB of BSON, and peak RSS, for vaultui's commands, the real Go tools and the old shell
pipeline on the same data, plus the server's ceiling (a bare raw `find`, and the fastest bare `insert_many` of
the same documents over 1, 2, 4 or 8 connections), so each row reads as a fraction of what the server allows.
Every tool runs as its own process (os.wait4 gives its CPU and peak RSS, children included); vaultui's
figures include its start-up.
Restores build no indexes on either side (mongorestore --noIndexRestore, vaultui --no-indexes), as the ceiling.

Usage: python -m bench.client_cost [--backend sqlite|postgresql] [MB ...]
(sizes in MB of BSON, default 30 300; `make bench` runs those, `make bench-large` adds 1000)"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pymongo
from bson.raw_bson import RawBSONDocument
from pyrage import x25519

from bench.restore_speed import server_best
from bench.sample import documents_for, seed_bench
from tests.bed import servers
from tests.helpers import VAULTUI, run_measured

DATABASE = "bench"
BEST_INSERT = "server best: insert_many, 1-8 connections"
OLD_STAMP = "20261125"  # the old pipeline's archive name: YYYYMMDD.tar.gz holding YYYYMMDD/<db>/<coll>.bson


@dataclass
class Cost:
    label: str
    wall: float
    cpu: float
    rss_mb: float


@dataclass
class SizeRun:
    megabytes: float
    documents: int
    bson_gb: float
    minutes: float
    costs: dict[str, Cost]


def run(label: str, command: list[str], env: dict[str, str] | None = None) -> Cost:
    """One process, to its end: wall time, its CPU (user + sys) and its peak RSS (from a small launcher)."""
    start = time.perf_counter()
    done, cpu, rss = run_measured(command, env, timeout=4 * 3600)
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


def measure(megabytes: float, backend: str) -> SizeRun:
    began = time.perf_counter()
    binaries = servers.binary_paths()
    mongodump, mongorestore = str(binaries["mongodump"]), str(binaries["mongorestore"])
    documents = documents_for(megabytes)
    server = servers.start_ferretdb(backend=backend)
    costs: list[Cost] = []
    try:
        client: pymongo.MongoClient = pymongo.MongoClient(server.url)
        seed_bench(client, DATABASE, "sample", documents)
        raw = client[DATABASE].get_collection("sample", codec_options=client.codec_options.with_options(
            document_class=RawBSONDocument))  # fmt: skip
        found: list[list[RawBSONDocument]] = []
        costs.append(in_process("server ceiling: raw find", lambda: found.append(list(raw.find()))))
        bson_gb = sum(len(document.raw) for document in found[0]) / 1e9
        seconds, _ = server_best(client, found[0])  # one connection is not the server's best (two are, on the bed)
        costs.append(Cost(BEST_INSERT, seconds, 0.0, float("nan")))  # its client CPU: not measured
        found.clear()
        with tempfile.TemporaryDirectory() as scratch:
            work = Path(scratch)
            old = work / "old"
            old.mkdir()
            costs.append(run("old pipeline: mongodump + tar czf", ["/bin/sh", "-c",
                f'"$0" --uri="$1" --db={DATABASE} --out="$2/{OLD_STAMP}" --quiet '
                f'&& tar czf "$2/{OLD_STAMP}.tar.gz" -C "$2" {OLD_STAMP} && rm -r "$2/{OLD_STAMP}"',
                mongodump, server.url, str(old)]))  # fmt: skip
            dumped = work / "dump.archive.gz"
            costs.append(run("mongodump --archive --gzip", [mongodump, f"--uri={server.url}", f"--db={DATABASE}",
                                                             f"--archive={dumped}", "--gzip", "--quiet"]))  # fmt: skip
            identity = x25519.Identity.generate()
            key = work / "key.txt"
            key.write_text(f"{identity}\n")
            folders: dict[str, Path] = {}
            sealed = ["--codec", "zstd", "--age-recipient", str(identity.to_public())]
            for label, extra in (("zstd", ["--codec", "zstd"]), ("gzip", ["--codec", "gzip"]), ("zstd + age", sealed)):
                folders[label] = work / label.replace(" ", "").replace("+", "_")
                folders[label].mkdir()
                env = {"VAULTUI_MONGO_URI": server.url, "VAULTUI_STORAGE": str(folders[label])}
                costs.append(run(f"vaultui backup, {label}", [VAULTUI, "--headless", "backup", "--db", DATABASE,
                                                              *extra], env))  # fmt: skip
            costs.append(run("vaultui verify, framed + sha256 (manifest)", [VAULTUI, "--headless", "verify", "--all"],
                             {"VAULTUI_STORAGE": str(folders["zstd"])}))  # fmt: skip
            costs.append(run("vaultui verify, old archive, all decoded", [VAULTUI, "--headless", "verify", "--all"],
                             {"VAULTUI_STORAGE": str(old)}))  # fmt: skip

            restore_to = work / "old-restore"
            restore_to.mkdir()
            costs.append(run("old pipeline: tar xzf + mongorestore", ["/bin/sh", "-c",
                f'tar xzf "$2/{OLD_STAMP}.tar.gz" -C "$3" && "$0" --uri="$1" --noIndexRestore --quiet '
                f'--nsFrom="{DATABASE}.*" --nsTo="r_old.*" "$3/{OLD_STAMP}"',
                mongorestore, server.url, str(old), str(restore_to)]))  # fmt: skip
            for workers in (1, 8):
                costs.append(run(f"mongorestore --archive --gzip, {workers} worker{'s' if workers > 1 else ''}",
                                 [mongorestore, f"--uri={server.url}", "--noIndexRestore", f"--archive={dumped}",
                                  "--gzip", f"--nsFrom={DATABASE}.*", f"--nsTo=r_go{workers}.*", "--quiet",
                                  f"--numInsertionWorkersPerCollection={workers}"]))  # fmt: skip
            for label, folder, extra in (
                ("vaultui restore, single pass, 1 worker", "zstd", ["--insert-workers", "1"]),
                ("vaultui restore, single pass, 8 workers", "zstd", ["--insert-workers", "8"]),
                ("vaultui restore, two pass, 8 workers", "zstd", ["--insert-workers", "8", "--two-pass"]),
                (
                    "vaultui restore, zstd + age, 8 workers",
                    "zstd + age",
                    ["--insert-workers", "8", "--age-identity-file", str(key)],
                ),
            ):
                env = {"VAULTUI_TARGET_URI": server.url, "VAULTUI_STORAGE": str(folders[folder])}
                costs.append(run(label, [VAULTUI, "--headless", "restore", "--latest", "--no-indexes", "--ns-from",
                                         f"{DATABASE}.*", "--ns-to", f"r_{len(costs)}.*", *extra], env))  # fmt: skip
    finally:
        server.stop()
    minutes = (time.perf_counter() - began) / 60
    return SizeRun(megabytes, documents, bson_gb, minutes, {cost.label: cost for cost in costs})


RATIOS = (
    ("CPU", "vaultui backup, zstd", "mongodump --archive --gzip"),
    ("CPU", "vaultui backup, gzip", "mongodump --archive --gzip"),
    ("CPU", "vaultui restore, single pass, 8 workers", "mongorestore --archive --gzip, 8 workers"),
    ("CPU", "vaultui restore, single pass, 1 worker", "mongorestore --archive --gzip, 1 worker"),
    ("wall", "vaultui restore, single pass, 8 workers", BEST_INSERT),
    ("wall", "mongorestore --archive --gzip, 8 workers", BEST_INSERT),
    ("wall", "vaultui backup, zstd", "server ceiling: raw find"),
    ("wall", "mongodump --archive --gzip", "server ceiling: raw find"),
)


def print_size(size: SizeRun, backend: str) -> None:
    print(f"\n## {size.bson_gb * 1000:,.0f} MB of BSON: {size.documents:,} documents, FerretDB 1.24 ({backend}), "
          f"2 cores; this size took {size.minutes:.1f} min\n")  # fmt: skip
    print(f"{'step':<44} {'wall s':>8} {'CPU s':>7} {'CPU s/GB':>9} {'MB/s':>7} {'peak RSS MB':>12}")
    for cost in size.costs.values():
        rss = "" if cost.rss_mb != cost.rss_mb else f"{cost.rss_mb:.0f}"
        print(f"{cost.label:<44} {cost.wall:8.2f} {cost.cpu:7.2f} {cost.cpu / size.bson_gb:9.1f} "
              f"{size.bson_gb * 1000 / cost.wall:7.1f} {rss:>12}")  # fmt: skip
    print()
    for measure_of, ours, theirs in RATIOS:
        a, b = size.costs[ours], size.costs[theirs]
        ratio = (a.cpu / b.cpu) if measure_of == "CPU" else (a.wall / b.wall)
        print(f"{measure_of:<4} {ours} / {theirs}: {ratio:.2f}x")


def print_across(sizes: list[SizeRun]) -> None:
    """CPU per GB and peak RSS of each step at every size: flat rows mean cost grows with the bytes only."""
    if len(sizes) < 2:
        return
    heads = "".join(f"{f'{s.bson_gb * 1000:,.0f} MB':>18}" for s in sizes)
    print(f"\n## across sizes: CPU s/GB | peak RSS MB\n\n{'step':<44}{heads}")
    for label in sizes[0].costs:
        cells = []
        for size in sizes:
            cost = size.costs[label]
            rss = "-" if cost.rss_mb != cost.rss_mb else f"{cost.rss_mb:.0f}"
            cells.append(f"{cost.cpu / size.bson_gb:>10.1f} | {rss:>5}")
        print(f"{label:<44}{''.join(cells)}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.client_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite",
                        help="FerretDB's backend (bench.backends compares them; default sqlite)")  # fmt: skip
    parser.add_argument("sizes", nargs="*", type=float, default=[30, 300], help="MB of BSON per run")
    arguments = parser.parse_args()
    sizes = []
    for megabytes in arguments.sizes:
        sizes.append(measure(megabytes, arguments.backend))
        print_size(sizes[-1], arguments.backend)
    print_across(sizes)
    figures = {
        f"{size.megabytes:g}MB": {
            cost.label: [
                round(cost.wall, 2),
                round(cost.cpu, 2),
                None if cost.rss_mb != cost.rss_mb else round(cost.rss_mb),
            ]
            for cost in size.costs.values()
        }
        for size in sizes
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
