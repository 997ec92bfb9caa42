"""Point-in-time recovery on the bed, measured in one run: the capture's lag under a steady write load, and
the replay rate beside the base restore rate.

A FerretDB with an oplog; a base archive of DOCUMENTS documents; then a writer inserting and updating at a
steady RATE per second for SECONDS while `capture` runs in the same process (a chunk every FLUSH seconds).
Lag is measured at each chunk: the clock minus the newest entry committed. Then a restore to the last write,
into another database: the base load and the replay are timed apart (both from the run's ledger record).
FerretDB (SQLite) bounds every rate here; MongoDB applies entries far faster, so read the replay rate as a
floor and compare it with the base restore on the same server.

Usage: python -m bench.pitr [DOCUMENTS] [RATE] [SECONDS] [FLUSH]   (default 20000 50 60 5)"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time

import pymongo
from bson import Timestamp

from engine.backup.run import BackupOptions, run_backup
from engine.common.namespaces import NamespaceFilter
from engine.common.remap import Rename
from engine.evidence.ledger import list_runs
from engine.pitr.capture import CaptureStats, capture
from engine.pitr.plan import plan_point_in_time
from engine.pitr.store import ChunkManifest, list_chunk_refs
from engine.restore.request import RestoreRequest
from engine.restore.to_time import restore_to_time
from engine.storage import Storage, open_storage
from tests.bed import servers
from tests.helpers import seed

DATABASE = "pitrbench"


def main() -> None:
    documents, rate, seconds, flush = (
        int(sys.argv[1]) if len(sys.argv) > 1 else 20_000,
        float(sys.argv[2]) if len(sys.argv) > 2 else 50.0,
        float(sys.argv[3]) if len(sys.argv) > 3 else 60.0,
        float(sys.argv[4]) if len(sys.argv) > 4 else 5.0,
    )
    server = servers.start_ferretdb()
    try:
        client: pymongo.MongoClient = pymongo.MongoClient(server.url)
        client.local.create_collection("oplog.rs", capped=True, size=512 * 1024 * 1024)
        seed(client, DATABASE, {"orders": documents})
        folder = tempfile.mkdtemp(prefix="vaultui-bench-pitr-")
        storage = open_storage(folder)
        run_backup(storage, server.url, BackupOptions(namespaces=NamespaceFilter(databases=(DATABASE,))))

        stop = threading.Event()
        lags: list[float] = []

        def flushed(chunk: ChunkManifest, stats: CaptureStats) -> None:
            lags.append(stats.lag_seconds)

        capturer = threading.Thread(
            target=lambda: capture(
                pymongo.MongoClient(server.url), storage, flush_seconds=flush, stop=stop, on_flush=flushed
            )
        )
        capturer.start()
        writes = 0
        began = time.monotonic()
        while time.monotonic() - began < seconds:
            writes += 1
            # Into a collection of its own: FerretDB (SQLite) scans a whole collection for an update, so
            # updates on the big base collection would measure that, not the capture.
            if writes % 2:
                client[DATABASE].events.insert_one({"_id": writes, "total": writes})
            else:
                client[DATABASE].events.update_one({"_id": writes - 1}, {"$set": {"paid": True}})
            time.sleep(max(0.0, began + writes / rate - time.monotonic()))
        newest = next(iter(client.local["oplog.rs"].find({}, {"ts": 1}).sort("$natural", -1).limit(1)))["ts"]
        while not chunk_reaches(storage, newest):  # until the capture has committed the last write
            time.sleep(0.2)
        stop.set()
        capturer.join()

        to_time = f"{newest.time}:{newest.inc}"
        plan = plan_point_in_time(storage, to_time)
        request = RestoreRequest(
            latest=True, to_time=to_time, renames=(Rename(f"{DATABASE}.*", f"{DATABASE}_at.*"),), rto_seconds=600
        )
        wall = time.perf_counter()
        restore_to_time(storage, server.url, request, plan=plan)
        wall = time.perf_counter() - wall
        [record] = list_runs(storage, "restore", limit=1)
        replay = float(record.details["replay_seconds"])
        load = record.duration_seconds - replay
        base_docs = record.documents
        print(f"writes: {writes} in {seconds:.0f} s ({writes / seconds:.1f}/s), chunks every {flush:.0f} s")
        print(
            f"capture lag at each chunk: median {statistics.median(lags):.2f} s, max {max(lags):.2f} s "
            f"over {len(lags)} chunks (a chunk waits up to {flush:.0f} s by design)"
        )
        print(f"base restore: {base_docs} documents in {load:.2f} s = {base_docs / load:,.0f} documents/s")
        print(
            f"replay: {plan.entries} entries in {replay:.2f} s = {plan.entries / replay:,.0f} entries/s "
            f"({plan.entries / replay / (base_docs / load):.3f} of the base rate); restore to time {wall:.2f} s"
        )
    finally:
        server.stop()


def chunk_reaches(storage: Storage, newest: Timestamp) -> bool:
    refs = list_chunk_refs(storage)
    return bool(refs) and refs[-1].last >= newest


if __name__ == "__main__":
    main()
