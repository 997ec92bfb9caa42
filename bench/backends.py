"""FerretDB's two backends side by side on the same documents: SQLite (what the suite uses) and PostgreSQL
(Debian's 15, fsync off as for a throwaway bench cluster). For each, the server's ceiling: how long seeding,
a bare raw `find` and a bare `insert_many` of the same documents take. The client benchmarks use whichever is
faster at their largest size (see `bench.client_cost --backend`).

Usage: python -m bench.backends [DOCUMENTS]   (default 100000)"""

from __future__ import annotations

import sys
import time

import pymongo
from bson.raw_bson import RawBSONDocument

from tests.bed import servers
from tests.helpers import seed


def measure(backend: str, documents: int) -> dict[str, float]:
    server = servers.start_ferretdb(backend=backend)
    try:
        client: pymongo.MongoClient = pymongo.MongoClient(server.url)
        start = time.perf_counter()
        seed(client, "bench", {"sample": documents})
        seeded = time.perf_counter() - start
        raw = client["bench"].get_collection("sample", codec_options=client.codec_options.with_options(
            document_class=RawBSONDocument))  # fmt: skip
        start = time.perf_counter()
        found = list(raw.find())
        read = time.perf_counter() - start
        start = time.perf_counter()
        client["ceiling"]["sample"].insert_many(found)
        written = time.perf_counter() - start
        return {"seed": seeded, "raw find": read, "insert_many": written}
    finally:
        server.stop()


def main() -> None:
    documents = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    results = {backend: measure(backend, documents) for backend in ("sqlite", "postgresql")}
    print(f"FerretDB 1.24 backends, {documents:,} documents, seconds (lower is better)\n")
    print(f"{'step':<14} {'SQLite':>8} {'PostgreSQL':>11} {'PG / SQLite':>12}")
    for step in results["sqlite"]:
        sqlite, postgresql = results["sqlite"][step], results["postgresql"][step]
        print(f"{step:<14} {sqlite:8.2f} {postgresql:11.2f} {postgresql / sqlite:11.2f}x")


if __name__ == "__main__":
    main()
