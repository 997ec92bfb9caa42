"""Restore wall time against the real mongorestore, side by side in one run per size (the RTO is a restore's
wall time), and verify of an old-pipeline archive against `tar -xzO`.

Per size, on one FerretDB and the same documents:
- one collection: `mongorestore --archive --gzip` with 1 and 8 insertion workers beside `vaultui restore`
  (single pass: verify, check every document, load into staging, swap) with 1 and 8 insert workers;
- four collections of a quarter each: `mongorestore --numParallelCollections=4` beside vaultui with 4 insert
  workers (its workers take every collection's batches as the archive is read);
- the best the server allows: a bare `insert_many` of the same raw documents from memory over 1, 2, 4 and 8
  connections, the fastest kept (no reading, no checking, nothing recorded);
- verify of the old pipeline's `YYYYMMDD.tar.gz` of the same documents beside `tar -xzO` of it.
Every tool is its own process, start-up included, with Python's bytecode compiled as an installed image has it.
Each restore goes into a fresh database, dropped afterwards, so the server's state is the same for every run;
rounds interleave the tools and the median is printed, with the spread (FerretDB's run-to-run noise).
No index is built on either side (mongorestore --noIndexRestore, vaultui --no-indexes).

Usage: python -m bench.restore_speed [--rounds N] [MB ...]   (default 30 300; `make bench-large` adds 1000)"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pymongo
from bson.raw_bson import RawBSONDocument

from bench.sample import documents_for, seed_bench
from tests.bed import servers
from tests.helpers import VAULTUI, run_measured

DATABASE, SPLIT = "bench", "bench4"
OLD_STAMP = "20261125"
BATCH = 1000  # documents per insert, as mongorestore's bulk inserter sends them

ONE = ("mongorestore, 1 worker", "vaultui, 1 worker")
EIGHT = ("mongorestore, 8 workers", "vaultui, 8 workers")
COLLECTIONS = ("mongorestore, 4 collections in parallel", "vaultui, 4 collections, 4 workers")
VERIFY = ("tar -xzO (old-pipeline archive)", "vaultui verify (old-pipeline archive)")


def compile_bytecode() -> None:
    """What an installed vaultui has (the image compiles it at build time): this machine's environment sets
    PYTHONDONTWRITEBYTECODE, which would make every vaultui process compile its imports again."""
    roots = [Path(__file__).parent.parent / name for name in ("engine", "vaultui")]
    roots.append(Path(sysconfig.get_paths()["purelib"]))
    for root in roots:
        compileall.compile_dir(root, quiet=2, workers=0)


def process(command: list[str], env: dict[str, str] | None = None) -> float:
    """The wall seconds of one process, to its end."""
    started = time.perf_counter()
    done, _, _ = run_measured(command, env, timeout=4 * 3600)
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} failed: {done.stderr[-2000:]}")
    return time.perf_counter() - started


def drop_targets(client: pymongo.MongoClient) -> None:
    for name in client.list_database_names():
        if name.startswith("r_"):
            client.drop_database(name)


def split_into_four(client: pymongo.MongoClient, documents: int) -> None:
    """Four collections of a quarter of the documents each, copied raw from the one collection."""
    source = client[DATABASE].get_collection(
        "sample", codec_options=client.codec_options.with_options(document_class=RawBSONDocument)
    )
    client.drop_database(SPLIT)
    quarter = -(-documents // 4)
    batch: list[RawBSONDocument] = []
    for number, document in enumerate(source.find()):
        batch.append(document)
        if len(batch) == BATCH or number == documents - 1:
            client[SPLIT][f"part{number // quarter}"].insert_many(batch, ordered=False)
            batch = []


def server_best(client: pymongo.MongoClient, documents: list[RawBSONDocument]) -> tuple[float, int]:
    """(seconds, connections) of the fastest bare insert_many of `documents` from memory."""
    batches = [documents[start : start + BATCH] for start in range(0, len(documents), BATCH)]
    best = (float("inf"), 0)
    for connections in (1, 2, 4, 8):
        insert = client["r_server"]["sample"].insert_many
        started = time.perf_counter()
        with ThreadPoolExecutor(connections) as pool:
            list(pool.map(lambda batch, insert=insert: insert(batch, ordered=False), batches))
        best = min(best, (time.perf_counter() - started, connections))
        drop_targets(client)
    return best


class SizeRun:
    def __init__(self, megabytes: float, rounds: int) -> None:
        self.megabytes = megabytes
        self.rounds = rounds
        self.documents = documents_for(megabytes)
        self.walls: dict[str, list[float]] = {}
        self.server: tuple[float, int] = (0.0, 0)
        self.bson_mb = 0.0

    def median(self, label: str) -> float:
        return statistics.median(self.walls[label])

    def measure(self, server: servers.Server, binaries: dict[str, Path], work: Path) -> None:
        client: pymongo.MongoClient = pymongo.MongoClient(server.url)
        seed_bench(client, DATABASE, "sample", self.documents)
        split_into_four(client, self.documents)
        mongodump, mongorestore = str(binaries["mongodump"]), str(binaries["mongorestore"])
        one, four, old = work / "one.archive.gz", work / "four.archive.gz", work / "old"
        for database, archive in ((DATABASE, one), (SPLIT, four)):
            process([mongodump, f"--uri={server.url}", f"--db={database}", f"--archive={archive}", "--gzip", "--quiet"])
        old.mkdir()
        process([mongodump, f"--uri={server.url}", f"--db={DATABASE}", f"--out={old / OLD_STAMP}", "--quiet"])
        subprocess.run(["tar", "czf", str(old / f"{OLD_STAMP}.tar.gz"), "-C", str(old), OLD_STAMP], check=True)
        subprocess.run(["rm", "-r", str(old / OLD_STAMP)], check=True)
        folders = {database: work / database for database in (DATABASE, SPLIT)}
        for database, folder in folders.items():
            folder.mkdir()
            env = {"VAULTUI_MONGO_URI": server.url, "VAULTUI_STORAGE": str(folder)}
            process([VAULTUI, "--headless", "backup", "--db", database, "--codec", "zstd"], env)

        raw = client[DATABASE].get_collection(
            "sample", codec_options=client.codec_options.with_options(document_class=RawBSONDocument)
        )
        documents = list(raw.find())
        self.bson_mb = sum(len(document.raw) for document in documents) / 1e6
        self.server = server_best(client, documents)
        del documents

        def go(archive: Path, source: str, workers: int, parallel: int) -> Callable[[], float]:
            return lambda: process([mongorestore, f"--uri={server.url}", "--noIndexRestore", f"--archive={archive}",
                                    "--gzip", f"--nsFrom={source}.*", "--nsTo=r_go.*", "--quiet",
                                    f"--numParallelCollections={parallel}",
                                    f"--numInsertionWorkersPerCollection={workers}"])  # fmt: skip

        def ours(source: str, workers: int) -> Callable[[], float]:
            env = {"VAULTUI_TARGET_URI": server.url, "VAULTUI_STORAGE": str(folders[source])}
            return lambda: process([VAULTUI, "--headless", "restore", "--latest", "--no-indexes", "--ns-from",
                                    f"{source}.*", "--ns-to", "r_py.*", "--insert-workers", str(workers),
                                    "--parallel", "4"], env)  # fmt: skip

        archive = str(old / f"{OLD_STAMP}.tar.gz")
        runs: dict[str, Callable[[], float]] = {
            ONE[0]: go(one, DATABASE, 1, 1),
            ONE[1]: ours(DATABASE, 1),
            EIGHT[0]: go(one, DATABASE, 8, 1),
            EIGHT[1]: ours(DATABASE, 8),
            COLLECTIONS[0]: go(four, SPLIT, 1, 4),
            COLLECTIONS[1]: ours(SPLIT, 4),
            VERIFY[0]: lambda: process(["/bin/sh", "-c", f'tar -xzOf "{archive}" > /dev/null']),
            VERIFY[1]: lambda: process([VAULTUI, "--headless", "verify", "--all"], {"VAULTUI_STORAGE": str(old)}),
        }
        for round_number in range(self.rounds):
            # Every other round backwards, so that neither side of a pair always runs first.
            order = list(runs.items())
            for label, run in order if round_number % 2 == 0 else order[::-1]:
                self.walls.setdefault(label, []).append(run())
                drop_targets(client)
        client.close()


def print_size(size: SizeRun) -> None:
    seconds, connections = size.server
    print(f"\n## {size.bson_mb:,.0f} MB of BSON, {size.documents:,} documents of ~1 KB; FerretDB 1.24 (SQLite), "
          f"2 cores; median of {size.rounds} rounds\n")  # fmt: skip
    print(f"{'restore / read, start-up included':<46} {'median s':>9} {'spread s':>14} {'MB/s':>7}")
    for label, walls in size.walls.items():
        middle, spread = statistics.median(walls), f"{min(walls):.2f}-{max(walls):.2f}"
        print(f"{label:<46} {middle:9.2f} {spread:>14} {size.bson_mb / middle:7.1f}")
    print(f"{f'server best: insert_many from memory, {connections} conn.':<46} {seconds:9.2f} {'':>14} "
          f"{size.bson_mb / seconds:7.1f}")  # fmt: skip
    print()
    for what, (theirs, ours) in (("1 worker", ONE), ("8 workers", EIGHT), ("4 collections", COLLECTIONS)):
        print(f"restore wall, {what:<14} vaultui / mongorestore: {size.median(ours) / size.median(theirs):.2f}x")
    verify = size.median(VERIFY[1]) / size.median(VERIFY[0])
    print(f"verify old archive          vaultui / tar -xzO:      {verify:.2f}x")
    best = min(size.median(label) for label in (ONE[1], EIGHT[1]))
    print(f"restore wall, best vaultui  / server best:           {best / seconds:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.restore_speed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=0, help="rounds per size (default 3, 1 past 500 MB)")
    parser.add_argument("sizes", nargs="*", type=float, default=[30, 300], help="MB of BSON per run")
    arguments = parser.parse_args()
    compile_bytecode()
    binaries = servers.binary_paths()
    os.environ.setdefault("VAULTUI_MONGO_TOOLS", str(binaries["mongodump"].parent))
    sizes = []
    for megabytes in arguments.sizes:
        size = SizeRun(megabytes, arguments.rounds or (3 if megabytes <= 500 else 1))
        server = servers.start_ferretdb()
        try:
            with tempfile.TemporaryDirectory() as scratch:
                size.measure(server, binaries, Path(scratch))
        finally:
            server.stop()
        print_size(size)
        sys.stdout.flush()
        sizes.append(size)
    print(json.dumps({f"{size.megabytes:g}MB": {label: [round(w, 2) for w in walls] for label, walls in
                                                 size.walls.items()} for size in sizes}))  # fmt: skip


if __name__ == "__main__":
    main()
