"""Backup → list → verify against the real bed, on a folder and on S3, and the archive's escape hatch:
`tar -x` plus the real mongorestore gives back the same bytes."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pymongo
import pytest

from engine.archive.catalog import list_archives
from engine.evidence.ledger import list_runs
from engine.storage import open_storage
from tests.helpers import raw_documents, run_vaultui, seed, storage_url


@pytest.fixture
def seeded(mongo_client: pymongo.MongoClient, database_name: str) -> str:
    seed(mongo_client, database_name, {"orders": 1500, "users": 40})
    mongo_client[database_name].create_collection("empty")
    return database_name


@pytest.mark.parametrize("codec", ["zstd", "gzip"])
@pytest.mark.parametrize("kind", ["folder", "s3"])
def test_backup_list_verify_then_restore_by_hand_with_real_mongorestore(
    kind: str,
    codec: str,
    seeded: str,
    mongo_client: pymongo.MongoClient,
    mongo_uri: str,
    mongo_tools: dict[str, Path],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    url = storage_url(kind, tmp_path, request)
    env = {"VAULTUI_MONGO_URI": mongo_uri, "VAULTUI_STORAGE": url}

    made = run_vaultui("--headless", "backup", "--db", seeded, "--codec", codec, env=env)
    assert made.returncode == 0, made.stderr
    events = [json.loads(line) for line in made.stderr.splitlines()]
    assert events[0]["event"] == "backup.started" and events[-1]["event"] == "backup.finished"
    name = events[-1]["archive"]
    assert name.endswith(".tar.zst" if codec == "zstd" else ".tar.gz")
    assert "1,540 documents" in made.stdout

    listed = run_vaultui("--headless", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    [entry] = json.loads(listed.stdout)
    # verified: the backup read the archive back from storage before committing it
    assert (entry["name"], entry["status"], entry["codec"], entry["legacy"]) == (name, "verified", codec, False)

    checked = run_vaultui("--headless", "verify", name, "--json", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    [report] = json.loads(checked.stdout)
    assert report["ok"] and report["checksum_checked"] and report["documents"] == 1540

    storage = open_storage(url)
    [archive] = list_archives(storage)
    manifest = archive.manifest(storage)
    assert manifest is not None
    counts = {entry.namespace: entry.documents for entry in manifest.collections}
    assert counts == {f"{seeded}.orders": 1500, f"{seeded}.users": 40, f"{seeded}.empty": 0}
    [record] = list_runs(storage, "backup")
    assert (record.kind, record.result, record.archive, record.documents) == ("backup", "success", name, 1540)
    [checked_run] = list_runs(storage, "verify")  # verify records its outcome: the dashboard shows "verified"
    assert (checked_run.result, checked_run.archive) == ("success", name)

    # The escape hatch an on-call engineer trusts: plain tar, then the real mongorestore.
    local = tmp_path / name
    with storage.open_read(name) as source, local.open("wb") as copy:
        copy.write(source.read())
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    subprocess.run(["tar", "--zstd" if codec == "zstd" else "-z", "-xf", str(local), "-C", str(unpacked)], check=True)
    stamp = name.split(".")[0]
    metadata = json.loads((unpacked / stamp / seeded / "orders.metadata.json").read_text())
    assert {index["name"] for index in metadata["indexes"]} == {"_id_", "number_1"}
    assert metadata["collectionName"] == "orders" and metadata["type"] == "collection"
    restored = f"{seeded}_byhand"
    # --noIndexRestore: real mongorestore sends the "ns" index option, which FerretDB (not MongoDB) rejects.
    subprocess.run(
        [
            str(mongo_tools["mongorestore"]),
            f"--uri={mongo_uri}",
            "--noIndexRestore",
            f"--nsFrom={seeded}.*",
            f"--nsTo={restored}.*",
            str(unpacked / stamp),
        ],
        check=True,
        capture_output=True,
    )
    for collection in ("orders", "users"):
        assert raw_documents(mongo_client[restored][collection]) == raw_documents(mongo_client[seeded][collection])


def test_tar_members_follow_the_mongodump_layout(seeded: str, mongo_uri: str, tmp_path: Path) -> None:
    made = run_vaultui(
        "--headless",
        "backup",
        "--db",
        seeded,
        "--codec",
        "gzip",
        env={"VAULTUI_MONGO_URI": mongo_uri, "VAULTUI_STORAGE": str(tmp_path)},
    )
    assert made.returncode == 0, made.stderr
    [archive] = tmp_path.glob("*.tar.gz")
    stamp = archive.name.removesuffix(".tar.gz")
    with tarfile.open(archive) as tar:
        names = sorted(tar.getnames())
        assert all(member.isfile() and member.mode == 0o644 for member in tar.getmembers())
    assert names == sorted(
        f"{stamp}/{seeded}/{collection}.{kind}"
        for collection in ("empty", "orders", "users")
        for kind in ("bson", "metadata.json")
    )


def test_mongodump_dumper_makes_the_same_layout(
    seeded: str, mongo_client: pymongo.MongoClient, mongo_uri: str, mongo_tools: dict[str, Path], tmp_path: Path
) -> None:
    env = {
        "VAULTUI_MONGO_URI": mongo_uri,
        "VAULTUI_STORAGE": str(tmp_path),
        "VAULTUI_MONGO_TOOLS": str(mongo_tools["mongodump"].parent),
    }
    made = run_vaultui("--headless", "backup", "--db", seeded, "--dumper", "mongodump", env=env)
    assert made.returncode == 0, made.stderr
    storage = open_storage(str(tmp_path))
    [archive] = list_archives(storage)
    manifest = archive.manifest(storage)
    assert manifest is not None and manifest.dumper == "mongodump 100.12.2"
    assert {entry.namespace: entry.documents for entry in manifest.collections} == {
        f"{seeded}.orders": 1500,
        f"{seeded}.users": 40,
        f"{seeded}.empty": 0,
    }
    assert run_vaultui("--headless", "verify", "--all", env=env).returncode == 0
    assert mongo_uri not in made.stderr + made.stdout


def test_include_and_exclude_patterns(seeded: str, mongo_uri: str, tmp_path: Path) -> None:
    env = {"VAULTUI_MONGO_URI": mongo_uri, "VAULTUI_STORAGE": str(tmp_path)}
    made = run_vaultui("--headless", "backup", "--ns-include", f"{seeded}.*", "--ns-exclude", "*.users", env=env)
    assert made.returncode == 0, made.stderr
    storage = open_storage(str(tmp_path))
    manifest = list_archives(storage)[0].manifest(storage)
    assert manifest is not None
    assert sorted(entry.collection for entry in manifest.collections) == ["empty", "orders"]


def test_a_backup_right_after_another_takes_the_next_second(seeded: str, mongo_uri: str, tmp_path: Path) -> None:
    """Two backups in one second (the dashboard's `b` just after the CronJob's run) both land: the second waits
    for the next second's name instead of failing on the first one's."""
    from datetime import UTC, datetime

    from engine.backup.run import BackupOptions, run_backup
    from engine.common.namespaces import NamespaceFilter

    storage = open_storage(str(tmp_path))
    options = BackupOptions(namespaces=NamespaceFilter(databases=(seeded,)))
    first = run_backup(storage, mongo_uri, options)
    named = datetime.strptime(first.manifest.archive[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    calls = iter([named.replace(microsecond=500_000)])  # the second starts within the first one's second

    def clock() -> datetime:
        return next(calls, None) or datetime.now(UTC)

    second = run_backup(storage, mongo_uri, options, clock=clock)
    assert second.manifest.archive > first.manifest.archive
    assert [entry.name for entry in list_archives(storage)] == [second.manifest.archive, first.manifest.archive]
