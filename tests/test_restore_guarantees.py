"""What a restore guarantees on its worst day, against the real bed: one read into staging collections and a
swap only after the whole archive verified; the in-progress marker that makes a later if-empty restore redo
a restore cut short; storage faults (real connection resets in front of the S3 server) told apart from
corrupt archives; and the storage lease between concurrent runs (real processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bson
import pymongo
import pytest

from engine.evidence.lease import EXCLUSIVE_KEY, SHARED_PREFIX, LeaseInfo
from engine.evidence.ledger import list_runs
from engine.restore.staging import MARKER_COLLECTION, MARKER_DATABASE, STAGING_PREFIX
from engine.storage import open_storage
from tests.bed.faulty_proxy import FaultyProxy
from tests.helpers import EXERCISED, raw_documents, run_vaultui, seed, tar_gz
from tests.test_restore import backup, restore
from vaultui.exit_codes import ExitCode

COUNTS = {"orders": 3000, "users": 40}


@pytest.fixture
def source(mongo_client: pymongo.MongoClient, database_name: str) -> str:
    seed(mongo_client, database_name, COUNTS)
    return database_name


def leftovers(client: pymongo.MongoClient) -> list[str]:
    """Staging collections anywhere in the target, and restore markers: a finished restore leaves none."""
    found = [
        f"{database}.{name}"
        for database in client.list_database_names()
        for name in client[database].list_collection_names()
        if name.startswith(STAGING_PREFIX)
    ]
    return found + [f"marker {item['_id']}" for item in client[MARKER_DATABASE][MARKER_COLLECTION].find({})]


def snapshot(client: pymongo.MongoClient, database: str) -> dict[str, list[bytes]]:
    return {name: sorted(raw_documents(client[database][name])) for name in client[database].list_collection_names()}


def test_one_read_restores_everything_and_leaves_nothing_behind(
    source: str, mongo_client: pymongo.MongoClient, mongo_uri: str, backups: Path
) -> None:
    name = backup(mongo_uri, str(backups), source)
    expected = snapshot(mongo_client, source)
    mongo_client[source]["orders"].delete_many({"number": {"$lt": 100}})  # the live data went wrong
    done = restore(mongo_uri, str(backups), "--archive", name, "--drop", "--db", source)
    assert done.returncode == 0, done.stderr
    assert snapshot(mongo_client, source) == expected
    assert leftovers(mongo_client) == []
    # No empty marker collection either, once no restore's marker is left in it.
    assert MARKER_COLLECTION not in mongo_client[MARKER_DATABASE].list_collection_names()
    runs = list_runs(open_storage(str(backups)))
    restored = next(run for run in runs if run.kind == "restore")
    assert restored.details["single_pass"] is True
    # The one read was a full verification, recorded as such.
    assert any(run.kind == "verify" and run.archive == name and run.result == "success" for run in runs)


@pytest.mark.parametrize("mode", ["--drop", "--two-pass"])
def test_an_archive_corrupt_near_its_end_changes_nothing_in_a_full_target(
    mode: str, source: str, mongo_client: pymongo.MongoClient, mongo_uri: str, backups: Path
) -> None:
    """The damage is found only when the read reaches it, after most documents went into staging: the live
    collections must still be exactly as they were."""
    name = backup(mongo_uri, str(backups), source, "--codec", "gzip")
    path = backups / name
    data = bytearray(path.read_bytes())
    data[-200] ^= 0xFF  # inside the last compressed block: the gzip CRC (and the sha256) catch it at the end
    path.write_bytes(bytes(data))
    mongo_client[source]["orders"].insert_one({"_id": "written after the backup"})
    before = snapshot(mongo_client, source)
    databases = set(mongo_client.list_database_names())
    arguments = ["--drop"] if mode == "--drop" else ["--drop", "--two-pass"]
    done = restore(mongo_uri, str(backups), "--archive", name, *arguments, "--db", source)
    assert done.returncode == ExitCode.VERIFICATION_FAILED, done.stderr
    assert snapshot(mongo_client, source) == before
    assert set(mongo_client.list_database_names()) == databases
    assert leftovers(mongo_client) == []


def test_legacy_options_that_come_after_the_data_still_apply(
    mongo_client: pymongo.MongoClient, mongo_uri: str, backups: Path, database_name: str
) -> None:
    """An old-pipeline tar may hold a collection's .bson before its metadata.json. The one read cannot know the
    options in time; the collection is loaded again (checked against the first read) with them."""
    documents = [bson.encode({"_id": number, "n": number}) for number in range(50)]
    metadata = json.dumps({"options": {"capped": True, "size": 1 << 20}, "indexes": [], "type": "collection"})
    stamp = "20261001"
    (backups / f"{stamp}.tar.gz").write_bytes(
        tar_gz(
            [
                (tarfile.TarInfo(f"{stamp}/{database_name}/events.bson"), b"".join(documents)),
                (tarfile.TarInfo(f"{stamp}/{database_name}/events.metadata.json"), metadata.encode()),
            ]
        )
    )
    done = restore(mongo_uri, str(backups), "--archive", f"{stamp}.tar.gz")
    assert done.returncode == 0, done.stderr
    assert mongo_client[database_name]["events"].options().get("capped") is True
    assert sorted(raw_documents(mongo_client[database_name]["events"])) == sorted(documents)
    assert leftovers(mongo_client) == []


def test_a_restore_cut_short_while_replacing_is_redone_by_if_empty(
    source: str, mongo_client: pymongo.MongoClient, mongo_uri: str, backups: Path
) -> None:
    """What a kill between two renames leaves: one target replaced, another dropped or half-filled, and the
    marker. The restore-at-start sidecar (if-empty) must redo the restore, not skip over the partial data;
    a guarded restore must say the data may be partial."""
    name = backup(mongo_uri, str(backups), source)
    expected = snapshot(mongo_client, source)
    mongo_client[source]["orders"].delete_many({"number": {"$gte": 10}})  # half-filled
    mongo_client[MARKER_DATABASE][MARKER_COLLECTION].insert_one(
        {
            "_id": "deadbeef0000",
            "state": "swapping",
            "archive": name,
            "databases": [source],
            "new_databases": [],
            "targets": [f"{source}.orders", f"{source}.users"],
            "host": "pod-0",
            "pid": 1,
            "started_at": "2026-11-26T03:00:00+00:00",
            "renewed_at": "2026-11-26T03:00:05+00:00",
        }
    )
    refused = restore(mongo_uri, str(backups), "--archive", name, "--db", source)
    assert refused.returncode == ExitCode.TARGET_NOT_EMPTY
    assert "stopped while replacing" in refused.stderr and "may be partial" in refused.stderr

    redone = restore(mongo_uri, str(backups), "--latest", "--if-empty", "--db", source)
    assert redone.returncode == 0, redone.stderr
    assert "redone in drop mode" in redone.stderr
    assert snapshot(mongo_client, source) == expected
    assert leftovers(mongo_client) == []

    skipped = restore(mongo_uri, str(backups), "--latest", "--if-empty", "--db", source)
    assert skipped.returncode == 0 and "restore skipped" in skipped.stdout  # no marker left: data is data


def s3_restore(proxy: FaultyProxy, bucket: str, mongo_uri: str, *arguments: str) -> subprocess.CompletedProcess:
    return run_vaultui(
        "--headless",
        "restore",
        *arguments,
        env={"VAULTUI_TARGET_URI": mongo_uri, "VAULTUI_STORAGE": f"s3://{bucket}", "AWS_ENDPOINT_URL_S3": proxy.url},
    )


def test_s3_connection_resets_are_resumed_and_never_called_corruption(
    source: str, mongo_client: pymongo.MongoClient, mongo_uri: str, s3_env: dict, s3_bucket: str, s3_server
) -> None:
    storage = f"s3://{s3_bucket}"
    # Incompressible documents: an archive of ~2 MB, whose body a reset can hit far from its ends.
    mongo_client[source]["blobs"].insert_many([{"_id": n, "data": os.urandom(1024)} for n in range(2000)])
    older = backup(mongo_uri, storage, source, "--codec", "gzip")  # gzip: big enough to cut mid-body
    newest = backup(mongo_uri, storage, source, "--codec", "gzip")
    assert older != newest
    expected = snapshot(mongo_client, source)
    target = f"{source}_from_s3"

    # Two resets in the middle of the archive's body: resumed with ranged reads, restored, nothing condemned.
    proxy = FaultyProxy(s3_server.port, reset_after=512 * 1024, resets=2).start()
    try:
        done = s3_restore(proxy, s3_bucket, mongo_uri, "--latest", "--ns-from", f"{source}.*", "--ns-to", f"{target}.*")
    finally:
        proxy.stop()
    assert done.returncode == 0, done.stderr
    assert proxy.resets_done == 2
    assert snapshot(mongo_client, target) == expected
    assert f"restored {newest}" in done.stdout

    # The network goes down in the middle of the body and stays down: a storage error, the newest archive
    # not condemned, no fallback to the older one.
    proxy = FaultyProxy(s3_server.port, reset_after=512 * 1024, resets=1, dead_after=True).start()
    try:
        failed = s3_restore(
            proxy, s3_bucket, mongo_uri, "--latest", "--ns-from", f"{source}.*", "--ns-to", f"{source}_never.*"
        )
    finally:
        proxy.stop()
    assert failed.returncode == ExitCode.STORAGE, failed.stderr
    assert "kept failing" in failed.stderr and older not in failed.stderr
    assert f"{source}_never" not in mongo_client.list_database_names()
    verdicts = [run for run in list_runs(open_storage(storage)) if run.kind == "verify"]
    assert all(run.result == "success" for run in verdicts), [run.error for run in verdicts]
    assert leftovers(mongo_client) == []
    EXERCISED.append(
        "S3 faults: 2 connection resets in an archive's body (resumed, restored); the network down from the "
        "middle of the body (storage error, no fallback, nothing condemned)"
    )


HOLD_LEASE = """
import sys
from engine.evidence.lease import StorageLease
from engine.storage import open_storage
with StorageLease(open_storage(sys.argv[1]), "backup", exclusive=True):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_runs_do_not_race_on_the_storage(source: str, mongo_uri: str, backups: Path) -> None:
    env = {"VAULTUI_MONGO_URI": mongo_uri, "VAULTUI_STORAGE": str(backups)}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LEASE, str(backups)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        blocked = run_vaultui("--headless", "backup", "--db", source, env=env)
        assert blocked.returncode == ExitCode.LEASE_HELD, blocked.stderr
        assert "leased to backup run" in blocked.stderr and f"pid {holder.pid}" in blocked.stderr
        purge = run_vaultui("--headless", "purge", env=env)
        assert purge.returncode == ExitCode.LEASE_HELD, purge.stderr
        shown = run_vaultui("--headless", "unlock", env=env)
        assert "kept the live lease of backup run" in shown.stdout
        assert (backups / EXCLUSIVE_KEY).exists()
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=60)
    assert not (backups / EXCLUSIVE_KEY).exists()  # released at the end of its run

    # A lease whose run died (expired) is taken over with a warning in the run's record.
    dead = LeaseInfo("0123456789ab", "backup", "pod-gone", 7, "2026-11-01T00:00:00+00:00", "2026-11-01T00:10:00+00:00")
    (backups / EXCLUSIVE_KEY).write_bytes(dead.to_json())
    done = run_vaultui("--headless", "backup", "--db", source, env=env)
    assert done.returncode == 0, done.stderr
    record = next(run for run in list_runs(open_storage(str(backups)), "backup") if run.succeeded)
    assert "took over an expired storage lease" in record.details["lease"][0]

    # A live shared lease (a restore reading an archive) keeps purge from deleting that archive.
    archive = next(path.name for path in backups.iterdir() if path.name.endswith(".tar.zst"))
    reader = LeaseInfo(
        "fedcba987654",
        "restore",
        "pod-1",
        9,
        datetime.now(UTC).isoformat(),
        (datetime.now(UTC) + timedelta(minutes=10)).isoformat(),
        [archive],
    )
    (backups / SHARED_PREFIX).mkdir(parents=True)
    (backups / SHARED_PREFIX / "fedcba987654.json").write_bytes(reader.to_json())
    purged = run_vaultui("--headless", "purge", "--max-age-days", "1", "--keep-last", "1", env=env)
    assert (backups / archive).exists(), purged.stdout + purged.stderr
    status = run_vaultui("--headless", "status", env=env)
    assert "running      restore run fedcba987654" in status.stdout
    cleared = run_vaultui("--headless", "unlock", "--all", env=env)
    assert "removed the lease of restore run fedcba987654" in cleared.stdout


def test_an_archive_the_storage_will_not_hand_over_is_skipped_never_condemned(
    source: str, mongo_client: pymongo.MongoClient, mongo_uri: str, backups: Path, tmp_path: Path
) -> None:
    """A link out of the backup folder stands for any archive the storage refuses (a permission, a vanished
    object): --latest moves on to the next archive with a warning, verify --all says so (exit 5), and no
    failed verification is recorded against it."""
    good = backup(mongo_uri, str(backups), source)
    outside = tmp_path / "elsewhere.tar.zst"
    outside.write_bytes((backups / good).read_bytes())
    newest = f"{datetime.now(UTC) + timedelta(minutes=1):%Y%m%dT%H%M%SZ}.tar.zst"
    (backups / newest).symlink_to(outside)
    (backups / f"{newest}.manifest.json").write_bytes((backups / f"{good}.manifest.json").read_bytes())
    target = f"{source}_via_link"
    done = restore(mongo_uri, str(backups), "--latest", "--ns-from", f"{source}.*", "--ns-to", f"{target}.*")
    assert done.returncode == 0, done.stderr
    assert f"WARNING: {newest} was skipped: unreadable" in done.stderr
    assert f"restored {good}" in done.stdout
    checked = run_vaultui("--headless", "verify", "--all", env={"VAULTUI_STORAGE": str(backups)})
    assert checked.returncode == ExitCode.STORAGE, checked.stdout + checked.stderr
    assert f"{newest}: UNREADABLE (skipped)" in checked.stdout
    condemned = [
        run.archive for run in list_runs(open_storage(str(backups))) if run.kind == "verify" and run.result != "success"
    ]
    assert condemned == []


def test_s3_parts_grow_so_five_terabytes_fit(s3_env: dict, s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """10,000 parts (S3's limit) of the growing sizes hold more than 5 TB; parts are cut where the sizes say
    and spooled to disk past the first size, and the object reads back whole (small sizes here: moto takes
    5 MiB parts)."""
    from engine.storage import s3

    assert sum(s3.part_size(number) for number in range(1, 10_001)) > 5 * 10**12
    assert s3.part_size(1) == s3.PART_SIZE and s3.part_size(10_000) == s3.MAX_PART_SIZE
    monkeypatch.setattr(s3, "PART_SIZE", 5 * 1024 * 1024)
    monkeypatch.setattr(s3, "PARTS_PER_STEP", 1)  # 5, 10, 20 MiB ...
    data = os.urandom(1024 * 1024) * 40
    storage = open_storage(f"s3://{s3_bucket}")
    with storage.open_write("big.bin") as out:
        for offset in range(0, len(data), 256 * 1024):
            out.write(data[offset : offset + 256 * 1024])
    head = storage.client.head_object(Bucket=s3_bucket, Key="big.bin", PartNumber=1)  # type: ignore[attr-defined]
    assert head["PartsCount"] == 4  # 5 + 10 + 20 MiB, then the last 5
    with storage.open_read("big.bin") as stream:
        assert stream.read() == data


def test_a_sidecar_over_live_data_does_not_load_the_archive_to_find_out(
    source: str, mongo_uri: str, backups: Path, tmp_path: Path
) -> None:
    """if-empty and guarded restores check the target before loading anything: from the manifest, no staging
    collection is made and no document inserted (the kill points passed say what the run did)."""
    backup(mongo_uri, str(backups), source)
    for mode in ("--if-empty", None):
        points = tmp_path / f"points{mode}"
        done = restore(
            mongo_uri,
            str(backups),
            "--latest",
            "--db",
            source,
            *([mode] if mode else []),
            env={"VAULTUI_TEST_POINTS_FILE": str(points)},
        )
        assert done.returncode == (0 if mode else ExitCode.TARGET_NOT_EMPTY), done.stderr
        passed = points.read_text().split() if points.exists() else []
        assert not [point for point in passed if point.startswith(("restore.marker", "restore-insert"))], passed
