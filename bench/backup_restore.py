"""Side-by-side benchmark on one sample, in one run: vaultui backup per codec and dumper against the real
mongodump + tar (the old pipeline). Prints times, sizes and ratios. Usage: python -m bench.backup_restore [N]"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pymongo

from engine.backup import BackupOptions, run_backup
from engine.source import NamespaceFilter
from engine.storage import open_storage
from tests.bed import servers
from tests.helpers import seed

DATABASE = "bench"


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def old_pipeline(uri: str, mongodump: Path, work: Path) -> Path:
    subprocess.run(
        [str(mongodump), f"--uri={uri}", f"--db={DATABASE}", f"--out={work / 'dump'}"], check=True, capture_output=True
    )
    archive = work / "20261125.tar.gz"
    subprocess.run(["tar", "czf", str(archive), "-C", str(work / "dump"), "."], check=True)
    return archive


def main() -> None:
    documents = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    binaries = servers.binary_paths()
    server = servers.start_ferretdb()
    try:
        client: pymongo.MongoClient = pymongo.MongoClient(server.url)
        seed(client, DATABASE, {"sample": documents})
        print(f"sample: {documents:,} documents, FerretDB {server.url}")
        rows: list[tuple[str, float, int]] = []
        with tempfile.TemporaryDirectory() as scratch:
            work = Path(scratch)
            old = work / "old"
            old.mkdir()
            seconds = timed(lambda: old_pipeline(server.url, binaries["mongodump"], old))
            rows.append(("old pipeline: mongodump + tar czf", seconds, (old / "20261125.tar.gz").stat().st_size))
            chosen = NamespaceFilter(databases=(DATABASE,))
            for label, options in [
                ("vaultui native, zstd", BackupOptions(codec="zstd", namespaces=chosen)),
                ("vaultui native, gzip", BackupOptions(codec="gzip", namespaces=chosen)),
                ("vaultui mongodump, zstd", BackupOptions(codec="zstd", dumper="mongodump", namespaces=chosen)),
            ]:
                folder = work / label.replace(" ", "_").replace(",", "")
                folder.mkdir()
                os.environ.setdefault("VAULTUI_MONGO_TOOLS", str(binaries["mongodump"].parent))
                result = None

                def backup(folder: Path = folder, options: BackupOptions = options) -> None:
                    nonlocal result
                    result = run_backup(open_storage(str(folder)), server.url, options)

                seconds = timed(backup)
                assert result is not None
                rows.append((label, seconds, result.manifest.archive_bytes))
                bson_bytes = result.manifest.bson_bytes
            codec_rows = compare_codecs(folder)
        base_seconds, base_bytes = rows[0][1], rows[0][2]
        print(f"\n{'backup':<36} {'seconds':>8} {'MB':>8} {'time vs old':>12} {'size vs old':>12}")
        for label, seconds, size in rows:
            print(
                f"{label:<36} {seconds:8.2f} {size / 1e6:8.2f} {seconds / base_seconds:11.2f}x "
                f"{size / base_bytes:11.2f}x"
            )
        print(f"\nBSON dumped: {bson_bytes / 1e6:.1f} MB")
        print(f"\n{'codec on the same tar stream':<36} {'MB/s':>8} {'ratio':>8}")
        for label, speed, ratio in codec_rows:
            print(f"{label:<36} {speed:8.1f} {ratio:7.1f}x")
    finally:
        server.stop()


def compare_codecs(folder: Path) -> list[tuple[str, float, float]]:
    """Compression alone, on the uncompressed tar of one archive: speed and ratio per codec as vaultui sets it."""
    import io

    from engine.archive import open_compressor, open_decompressor

    [archive] = folder.glob("*.tar.zst")
    with archive.open("rb") as raw, open_decompressor("zstd", raw) as plain:
        data = plain.read()
    rows = []
    for codec in ("gzip", "zstd"):
        sink = io.BytesIO()
        start = time.perf_counter()
        with open_compressor(codec, sink) as compressor:
            compressor.write(data)
        seconds = time.perf_counter() - start
        rows.append((codec, len(data) / 1e6 / seconds, len(data) / len(sink.getvalue())))
    return rows


if __name__ == "__main__":
    main()
