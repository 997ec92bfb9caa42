"""Side-by-side benchmark on one sample, in one run, against the real tools and the old pipeline.

Backup: vaultui per codec and dumper vs mongodump + tar czf and mongodump --archive --gzip. Restore: vaultui's
native loader in one read (staging collections, then the swap) and in two (verify, then load) vs the real
mongorestore --archive --gzip, mongorestore through vaultui's loader option, and the old way (tar xzf +
mongorestore). Codecs
alone on the same tar stream, and age encryption alone (its share of a backup), beside an encrypted backup
and restore. The read-back every backup makes before its commit, timed alone from a folder
and from S3. Prints seconds, sizes, throughput and ratios.

Usage: python -m bench.backup_restore [MB]   (MB of BSON of bench.sample documents, default 30)"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import pymongo
from pyrage import x25519

from bench.sample import documents_for, seed_bench
from engine.archive.catalog import find_archive
from engine.archive.encryption import AgeReader, AgeWriter, use_identity_file
from engine.archive.format import open_compressor, open_decompressor, parse_archive_name
from engine.archive.manifest import Manifest
from engine.backup.run import BackupOptions, BackupResult, read_back, run_backup
from engine.common.namespaces import NamespaceFilter
from engine.common.remap import Rename
from engine.evidence.verify import name_scheme, scan_archive
from engine.restore.request import RestoreRequest
from engine.restore.run import run_restore
from engine.storage import open_storage
from tests.bed import servers

DATABASE = "bench"


def clock(action):  # noqa: ANN001, ANN201 - times any call
    start = time.perf_counter()
    value = action()
    return time.perf_counter() - start, value


def old_backup(uri: str, mongodump: Path, work: Path) -> Path:
    subprocess.run(
        [str(mongodump), f"--uri={uri}", f"--db={DATABASE}", f"--out={work / '20261125'}"],
        check=True,
        capture_output=True,
    )
    archive = work / "20261125.tar.gz"
    subprocess.run(["tar", "czf", str(archive), "-C", str(work), "20261125"], check=True)
    return archive


def old_restore(uri: str, mongorestore: Path, archive: Path, work: Path, target: str) -> None:
    subprocess.run(["tar", "xzf", str(archive), "-C", str(work)], check=True)
    subprocess.run(
        [
            str(mongorestore),
            f"--uri={uri}",
            "--noIndexRestore",
            f"--nsFrom={DATABASE}.*",
            f"--nsTo={target}.*",
            str(work / "20261125"),
        ],
        check=True,
        capture_output=True,
    )


def archive_dump(uri: str, mongodump: Path, archive: Path) -> None:
    subprocess.run(
        [str(mongodump), f"--uri={uri}", f"--db={DATABASE}", f"--archive={archive}", "--gzip"],
        check=True,
        capture_output=True,
    )


def archive_restore(uri: str, mongorestore: Path, archive: Path, target: str) -> None:
    subprocess.run(
        [
            str(mongorestore),
            f"--uri={uri}",
            "--noIndexRestore",
            f"--archive={archive}",
            "--gzip",
            f"--nsFrom={DATABASE}.*",
            f"--nsTo={target}.*",
        ],
        check=True,
        capture_output=True,
    )


def codec_rows(archive: Path) -> list[tuple[str, float, float]]:
    with archive.open("rb") as raw, open_decompressor("zstd", raw) as plain:
        data = plain.read()
    rows = []
    for codec in ("gzip", "zstd"):
        sink = io.BytesIO()
        seconds, _ = clock(lambda codec=codec, sink=sink: _compress(codec, sink, data))
        rows.append((codec, len(data) / 1e6 / seconds, len(data) / len(sink.getvalue())))
    return rows


def age_rows(archive: Path, identity: x25519.Identity) -> list[tuple[str, float]]:
    """Encryption alone, through the same streams a backup and a restore use, on the compressed archive."""
    data = archive.read_bytes()
    sealed = io.BytesIO()

    def encrypt() -> None:
        with AgeWriter(sealed, [identity.to_public()]) as writer:
            for start in range(0, len(data), 1 << 20):
                writer.write(data[start : start + (1 << 20)])

    def decrypt() -> None:
        with AgeReader(io.BytesIO(sealed.getvalue()), [identity], archive.name) as reader:
            while reader.read(1 << 20):
                pass

    return [("encrypt (AgeWriter)", clock(encrypt)[0]), ("decrypt (AgeReader)", clock(decrypt)[0])]


def _compress(codec: str, sink: io.BytesIO, data: bytes) -> None:
    with open_compressor(codec, sink) as compressor:
        compressor.write(data)


def verify_rows(folder: Path, manifest: Manifest) -> list[tuple[str, float]]:
    """A full verifying read of the same archive: framing and checksums only (what an archive whose manifest
    vouches for every collection gets), and decoding every document (what old-pipeline archives get)."""
    storage = open_storage(str(folder))
    entry = find_archive(storage, manifest.archive)
    rows = []
    for label, decode in (("framed, sha256 against the manifest", False), ("every document decoded", True)):
        seconds, _ = clock(lambda decode=decode: scan_archive(storage, entry, name_scheme(manifest), decode=decode))
        rows.append((label, seconds))
    return rows


def read_back_rows(folder: Path, manifest: Manifest) -> list[tuple[str, float]]:
    """The read-back a backup makes before writing its manifest, timed alone on the same archive: from the
    folder, and from a loopback S3 endpoint (moto) after uploading it there."""
    ref = parse_archive_name(manifest.archive)
    assert ref is not None
    rows = [("folder storage", clock(lambda: read_back(open_storage(str(folder)), ref, manifest, None))[0])]
    s3 = servers.start_s3()
    try:
        os.environ.update(s3.extra, AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL_S3=s3.url)
        bucket = f"bench-{os.getpid()}"
        boto3.client("s3", endpoint_url=s3.url).create_bucket(Bucket=bucket)
        storage = open_storage(f"s3://{bucket}/bench")
        with (folder / manifest.archive).open("rb") as data, storage.open_write(manifest.archive) as out:
            shutil.copyfileobj(data, out, 1 << 20)
        rows.append(("S3 storage (moto on loopback)", clock(lambda: read_back(storage, ref, manifest, None))[0]))
    finally:
        s3.stop()
    return rows


def main() -> None:
    documents = documents_for(float(sys.argv[1]) if len(sys.argv) > 1 else 30)
    binaries = servers.binary_paths()
    os.environ.setdefault("VAULTUI_MONGO_TOOLS", str(binaries["mongodump"].parent))
    server = servers.start_ferretdb()
    try:
        client: pymongo.MongoClient = pymongo.MongoClient(server.url)
        seed_bench(client, DATABASE, "sample", documents)
        chosen = NamespaceFilter(databases=(DATABASE,))
        with tempfile.TemporaryDirectory() as scratch:
            work = Path(scratch)
            (work / "old").mkdir()
            seconds, old_archive = clock(lambda: old_backup(server.url, binaries["mongodump"], work / "old"))
            backups = [("old pipeline: mongodump + tar czf", seconds, old_archive.stat().st_size)]
            dumped = work / "dump.archive.gz"
            seconds, _ = clock(lambda: archive_dump(server.url, binaries["mongodump"], dumped))
            backups.append(("mongodump --archive --gzip", seconds, dumped.stat().st_size))
            results: dict[str, BackupResult] = {}
            identity = x25519.Identity.generate()
            (work / "key.txt").write_text(f"{identity}\n")
            use_identity_file(str(work / "key.txt"))
            sealed = (str(identity.to_public()),)
            for label, options in [
                ("vaultui native, zstd", BackupOptions(codec="zstd", namespaces=chosen)),
                ("vaultui native, zstd + age", BackupOptions(codec="zstd", namespaces=chosen, recipients=sealed)),
                ("vaultui native, gzip", BackupOptions(codec="gzip", namespaces=chosen)),
                ("vaultui mongodump, zstd", BackupOptions(codec="zstd", dumper="mongodump", namespaces=chosen)),
            ]:
                folder = work / label.replace(" ", "_").replace(",", "")
                folder.mkdir()
                seconds, result = clock(
                    lambda folder=folder, options=options: run_backup(open_storage(str(folder)), server.url, options)
                )
                results[label] = result
                backups.append((label, seconds, result.manifest.archive_bytes))
            manifest = results["vaultui native, zstd"].manifest
            bson_mb = manifest.bson_bytes / 1e6
            zstd_folder = work / "vaultui_native_zstd"

            restores = []
            (work / "old-restore").mkdir()
            seconds, _ = clock(
                lambda: old_restore(server.url, binaries["mongorestore"], old_archive, work / "old-restore", "r_old")
            )
            restores.append(("old way: tar xzf + mongorestore", seconds))
            seconds, _ = clock(lambda: archive_restore(server.url, binaries["mongorestore"], dumped, "r_archive"))
            restores.append(("mongorestore --archive --gzip (no verify)", seconds))
            sealed_manifest = results["vaultui native, zstd + age"].manifest
            for index, (label, loader, workers, two_pass, chosen_manifest) in enumerate(
                [
                    ("vaultui single pass (staging+swap), 1 worker", "native", 1, False, manifest),
                    ("vaultui single pass (staging+swap), 4 workers", "native", 4, False, manifest),
                    ("vaultui single pass, 4 workers, zstd + age", "native", 4, False, sealed_manifest),
                    ("vaultui two pass (verify, then load), 4 workers", "native", 4, True, manifest),
                    ("vaultui via real mongorestore", "mongorestore", 4, False, manifest),
                ]
            ):
                folder = zstd_folder if chosen_manifest is manifest else work / "vaultui_native_zstd_+_age"
                request = RestoreRequest(
                    archive=chosen_manifest.archive,
                    loader=loader,
                    two_pass=two_pass,
                    insert_workers=workers,
                    indexes=False,
                    renames=(Rename(f"{DATABASE}.*", f"r_{index}.*"),),
                )
                seconds, result = clock(
                    lambda request=request, folder=folder: run_restore(open_storage(str(folder)), server.url, request)
                )
                assert result.documents == documents, (label, result.documents)
                restores.append((label, seconds))
            codecs = codec_rows(zstd_folder / manifest.archive)
            ages = age_rows(zstd_folder / manifest.archive, identity)
            read_backs = read_back_rows(zstd_folder, manifest)
            verifies = verify_rows(zstd_folder, manifest)
    finally:
        server.stop()

    print(f"sample: {documents:,} documents, {bson_mb:.1f} MB of BSON, on FerretDB 1.24 (SQLite); 2 cores\n")
    base_seconds, base_bytes = backups[0][1], backups[0][2]
    print(f"{'backup':<44} {'seconds':>8} {'MB':>7} {'time vs old':>12} {'size vs old':>12}")
    for label, seconds, size in backups:
        print(
            f"{label:<44} {seconds:8.2f} {size / 1e6:7.2f} {seconds / base_seconds:11.2f}x {size / base_bytes:11.2f}x"
        )
    print(
        f"\n{'restore (verification included for vaultui)':<44} {'seconds':>8} {'docs/s':>9} {'MB/s':>7} {'vs old':>8}"
    )
    base = restores[0][1]
    for label, seconds in restores:
        print(f"{label:<44} {seconds:8.2f} {documents / seconds:9.0f} {bson_mb / seconds:7.1f} {seconds / base:7.2f}x")
    native_seconds = next(seconds for label, seconds, _ in backups if label == "vaultui native, zstd")
    print(f"\n{'read-back before the commit (in the backup)':<44} {'seconds':>8} {'of backup':>10}")
    for label, seconds in read_backs:
        print(f"{label:<44} {seconds:8.2f} {seconds / native_seconds:9.1%}")
    print(f"\n{'verify, one core (MB/s of BSON)':<44} {'seconds':>8} {'MB/s':>7}")
    for label, seconds in verifies:
        print(f"{label:<44} {seconds:8.2f} {bson_mb / seconds:7.1f}")
    print(f"\n{'codec alone, same tar stream':<44} {'MB/s':>8} {'ratio':>7}")
    for label, speed, ratio in codecs:
        print(f"{label:<44} {speed:8.1f} {ratio:6.1f}x")
    archive_mb = manifest.archive_bytes / 1e6
    print(f"\n{'age alone, on the compressed archive':<44} {'MB/s':>8} {'seconds':>8} {'of backup':>10}")
    for label, seconds in ages:
        print(f"{label:<44} {archive_mb / seconds:8.1f} {seconds:8.3f} {seconds / native_seconds:9.2%}")


if __name__ == "__main__":
    main()
