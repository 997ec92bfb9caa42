"""Restore against the real bed: byte-equal round trips through every path, the guard, verification before
anything is touched, latest-good fallback, selective restore and remapping, waiting for a late server."""

from __future__ import annotations

import json
import socket
import subprocess
import tarfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bson
import pymongo
import pytest

from engine.evidence.ledger import list_runs
from engine.storage import open_storage
from tests.bed import servers
from tests.helpers import index_definitions, old_pipeline_archive, raw_documents, run_vaultui, seed, tar_gz
from vaultui.exit_codes import ExitCode

COUNTS = {"orders": 1200, "users": 60}


@pytest.fixture
def source(mongo_client: pymongo.MongoClient, database_name: str) -> str:
    seed(mongo_client, database_name, COUNTS)
    mongo_client[database_name]["users"].create_index([("name", 1), ("number", -1)], name="name_number", unique=True)
    return database_name


def backup(mongo_uri: str, storage: str, database: str, *extra: str) -> str:
    done = run_vaultui(
        "--headless",
        "backup",
        "--db",
        database,
        *extra,
        env={"VAULTUI_MONGO_URI": mongo_uri, "VAULTUI_STORAGE": storage},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stderr.splitlines()[-1])["archive"]


def restore(mongo_uri: str, storage: str, *arguments: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return run_vaultui(
        "--headless",
        "restore",
        *arguments,
        env={"VAULTUI_TARGET_URI": mongo_uri, "VAULTUI_STORAGE": storage, **(env or {})},
    )


def assert_same(client: pymongo.MongoClient, source: str, target: str, indexes: bool = True) -> None:
    for collection in COUNTS:
        assert raw_documents(client[target][collection]) == raw_documents(client[source][collection]), collection
        if indexes:
            assert index_definitions(client[target][collection]) == index_definitions(client[source][collection])


@pytest.mark.parametrize("kind", ["folder", "s3"])
def test_native_round_trip_is_byte_equal_with_equal_indexes(
    kind: str,
    source: str,
    mongo_client: pymongo.MongoClient,
    mongo_uri: str,
    backups: Path,
    request: pytest.FixtureRequest,
) -> None:
    if kind == "folder":
        storage = str(backups)
    else:
        request.getfixturevalue("s3_env")
        storage = f"s3://{request.getfixturevalue('s3_bucket')}/prod"
    backup(mongo_uri, storage, source)
    target = f"{source}_restored"
    done = restore(mongo_uri, storage, "--latest", "--ns-from", f"{source}.*", "--ns-to", f"{target}.*")
    assert done.returncode == 0, done.stderr
    assert "1,260 documents" in done.stdout and "3 indexes" in done.stdout
    assert "(RTO target 10m00s: met)" in done.stdout
    assert_same(mongo_client, source, target)
    [run] = list_runs(open_storage(storage), "restore")
    assert (run.result, run.documents, run.details["rto_met"], run.details["rto_seconds"]) == (
        "success",
        1260,
        True,
        600,
    )


def test_native_archive_restores_through_real_mongorestore(
    source: str, mongo_client: pymongo.MongoClient, mongo_uri: str, backups: Path, mongo_tools: dict[str, Path]
) -> None:
    backup(mongo_uri, str(backups), source)
    target = f"{source}_via_tool"
    # --no-indexes: real mongorestore sends the legacy "ns" index option that MongoDB accepts and FerretDB
    # rejects; index translation is covered by test_index_specs_from_real_mongodump_metadata instead.
    done = restore(
        mongo_uri,
        str(backups),
        "--latest",
        "--loader",
        "mongorestore",
        "--no-indexes",
        "--ns-from",
        f"{source}.*",
        "--ns-to",
        f"{target}.*",
        env={"VAULTUI_MONGO_TOOLS": str(mongo_tools["mongorestore"].parent)},
    )
    assert done.returncode == 0, done.stderr
    assert "1,260 documents" in done.stdout
    assert_same(mongo_client, source, target, indexes=False)


def test_old_pipeline_archive_restores_natively(
    source: str, mongo_client: pymongo.MongoClient, mongo_uri: str, backups: Path, mongo_tools: dict[str, Path]
) -> None:
    old_pipeline_archive(mongo_uri, source, mongo_tools["mongodump"], backups, "20261020")
    target = f"{source}_from_legacy"
    done = restore(
        mongo_uri, str(backups), "--date", "2026-10-20", "--ns-from", f"{source}.*", "--ns-to", f"{target}.*"
    )
    assert done.returncode == 0, done.stderr
    assert "restored 20261020.tar.gz" in done.stdout
    assert_same(mongo_client, source, target)


def test_guard_refuses_drop_replaces_if_empty_skips(
    source: str, mongo_client: pymongo.MongoClient, mongo_uri: str, backups: Path
) -> None:
    backup(mongo_uri, str(backups), source)
    live = mongo_client[source]["orders"]
    live.insert_one({"_id": "written-after-backup"})
    before = raw_documents(live)

    refused = restore(mongo_uri, str(backups), "--latest")
    assert refused.returncode == ExitCode.TARGET_NOT_EMPTY
    assert f"the target already holds data in {source}.orders (1201 documents)" in refused.stderr
    assert f"{source}.users (60 documents)" in refused.stderr and "--drop replaces" in refused.stderr
    assert raw_documents(live) == before
    # Recorded as what it was: refused, nothing changed; not a failed recovery that missed the RTO.
    assert list_runs(open_storage(str(backups)), "restore")[0].result == "refused"
    preview = restore(mongo_uri, str(backups), "--latest", "--dry-run")
    assert preview.returncode == ExitCode.TARGET_NOT_EMPTY and "the restore would be refused" in preview.stdout

    skipped = restore(mongo_uri, str(backups), "--latest", "--if-empty")
    assert skipped.returncode == 0 and "restore skipped (--if-empty)" in skipped.stdout
    assert raw_documents(live) == before
    assert list_runs(open_storage(str(backups)), "restore")[0].result == "skipped"

    replaced = restore(mongo_uri, str(backups), "--latest", "--drop")
    assert replaced.returncode == 0, replaced.stderr
    assert live.count_documents({}) == 1200 and live.find_one({"_id": "written-after-backup"}) is None
    assert "number_1" in live.index_information()


def damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "flip":
        data[len(data) // 2] ^= 0x01
    else:
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["flip", "truncate"])
def test_corrupt_archive_changes_nothing(
    how: str, source: str, mongo_client: pymongo.MongoClient, mongo_uri: str, backups: Path
) -> None:
    name = backup(mongo_uri, str(backups), source)
    damage(backups / name, how)
    target = f"{source}_never"
    done = restore(mongo_uri, str(backups), "--archive", name, "--ns-from", f"{source}.*", "--ns-to", f"{target}.*")
    assert done.returncode == ExitCode.VERIFICATION_FAILED
    assert f"archive {name} failed verification, nothing was changed" in done.stderr
    assert target not in mongo_client.list_database_names()


@pytest.mark.parametrize("evil", ["dotdot", "absolute", "symlink", "device"])
def test_unsafe_archive_members_are_refused(
    evil: str, mongo_client: pymongo.MongoClient, mongo_uri: str, backups: Path, database_name: str
) -> None:
    document = bson.encode({"_id": 1})
    good = tarfile.TarInfo(f"20261010/{database_name}/c.bson")
    bad = tarfile.TarInfo(
        {"dotdot": "20261010/../../escaped.bson", "absolute": "/tmp/escaped.bson"}.get(
            evil, f"20261010/{database_name}/link.bson"
        )
    )
    if evil == "symlink":
        bad.type, bad.linkname = tarfile.SYMTYPE, "/etc/passwd"
    if evil == "device":
        bad.type = tarfile.CHRTYPE
    (backups / "20261010.tar.gz").write_bytes(tar_gz([(good, document), (bad, document)]))
    done = restore(mongo_uri, str(backups), "--archive", "20261010.tar.gz")
    assert done.returncode == ExitCode.VERIFICATION_FAILED
    assert "refusing the archive" in done.stderr
    assert database_name not in mongo_client.list_database_names()
    assert not (backups.parent / "escaped.bson").exists()


def test_latest_falls_back_to_the_newest_good_archive_and_says_so(
    source: str, mongo_client: pymongo.MongoClient, mongo_uri: str, backups: Path
) -> None:
    older = backup(mongo_uri, str(backups), source)
    while datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") <= older.split(".")[0]:
        time.sleep(0.05)  # archive names have one-second resolution: wait for the next second to begin
    newer = backup(mongo_uri, str(backups), source)
    damage(backups / newer, "flip")
    target = f"{source}_fallback"
    done = restore(mongo_uri, str(backups), "--latest", "--ns-from", f"{source}.*", "--ns-to", f"{target}.*")
    assert done.returncode == 0, done.stderr
    assert f"WARNING: {newer} was skipped: failed verification" in done.stderr
    assert f"restored {older}" in done.stdout
    assert_same(mongo_client, source, target)
    runs = list_runs(open_storage(str(backups)))
    assert any(run.kind == "verify" and run.result == "failure" and run.archive == newer for run in runs)
    [restore_run] = [run for run in runs if run.kind == "restore"]
    assert restore_run.archive == older and restore_run.details["rejected"] == [newer]


def test_dry_run_and_selective_restore(
    source: str, mongo_client: pymongo.MongoClient, mongo_uri: str, backups: Path
) -> None:
    backup(mongo_uri, str(backups), source)
    target = f"{source}_only_users"
    arguments = ["--latest", "--ns-include", f"{source}.users", "--ns-from", f"{source}.*", "--ns-to", f"{target}.*"]
    preview = restore(mongo_uri, str(backups), *arguments, "--dry-run")
    assert preview.returncode == 0, preview.stderr
    assert f"{source}.users -> {target}.users: 60 documents" in preview.stdout
    assert "orders" not in preview.stdout
    assert target not in mongo_client.list_database_names()
    assert list_runs(open_storage(str(backups)), "restore") == []

    done = restore(mongo_uri, str(backups), *arguments)
    assert done.returncode == 0, done.stderr
    assert mongo_client[target].list_collection_names() == ["users"]
    assert raw_documents(mongo_client[target]["users"]) == raw_documents(mongo_client[source]["users"])


def test_duplicate_keys_in_an_archive_are_counted(
    mongo_client: pymongo.MongoClient, mongo_uri: str, backups: Path, database_name: str
) -> None:
    documents = [bson.encode({"_id": 1, "v": "a"}), bson.encode({"_id": 1, "v": "b"}), bson.encode({"_id": 2})]
    (backups / "20261011.tar.gz").write_bytes(
        tar_gz(
            [
                (tarfile.TarInfo(f"20261011/{database_name}/c.metadata.json"), b'{"options":{},"indexes":[]}'),
                (tarfile.TarInfo(f"20261011/{database_name}/c.bson"), b"".join(documents)),
            ]
        )
    )
    done = restore(mongo_uri, str(backups), "--archive", "20261011.tar.gz")
    assert done.returncode == 0, done.stderr
    assert "2 documents, 1 duplicate-key conflicts skipped" in done.stdout
    assert mongo_client[database_name]["c"].count_documents({}) == 2


def test_wait_ready_waits_for_a_late_server(source: str, mongo_uri: str, backups: Path) -> None:
    backup(mongo_uri, str(backups), source)
    port = servers.free_port()
    # The server starts only once the restore has knocked on its port (a state, not a delay): a plain
    # listener accepts that first attempt and goes away, then FerretDB takes the port.
    knock = socket.create_server(("127.0.0.1", port))
    late: list[servers.Server] = []

    def start_when_knocked() -> None:
        with knock:
            knock.settimeout(120)  # a restore that never knocks fails the test below; do not hang here
            try:
                connection, _ = knock.accept()
            except TimeoutError:
                return
            connection.close()
        late.append(servers.start_ferretdb(port=port))

    starter = threading.Thread(target=start_when_knocked)
    starter.start()
    try:
        done = restore(f"mongodb://127.0.0.1:{port}/", str(backups), "--latest", "--wait-ready", "120")
        assert done.returncode == 0, done.stderr
        client: pymongo.MongoClient = pymongo.MongoClient(f"mongodb://127.0.0.1:{port}/")
        assert client[source]["orders"].count_documents({}) == 1200
        client.close()
    finally:
        starter.join()
        for server in late:
            server.stop()


def test_target_never_comes_up(backups: Path, source: str, mongo_uri: str) -> None:
    backup(mongo_uri, str(backups), source)
    done = restore(f"mongodb://127.0.0.1:{servers.free_port()}/", str(backups), "--latest", "--wait-ready", "2")
    assert done.returncode == ExitCode.SOURCE_UNREACHABLE
    assert "cannot reach MongoDB at 127.0.0.1" in done.stderr and "(target)" in done.stderr


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--latest", "--archive", "x"], "not allowed with argument"),
        (["--date", "2026-13-01"], "--date '2026-13-01' is not a date"),
        (
            ["--latest", "--ns-from", "a.*"],
            "renames come in pairs: a pattern to rename from and one to rename to [--ns-from/--ns-to]",
        ),
        (["--latest", "--ns-from", "a.*", "--ns-to", "b.x"], "must hold the same number of '*'"),
        (["--date", "2020-01-01"], "no archive from 2020-01-01"),
    ],
)
def test_bad_restore_requests(arguments: list[str], expected: str, backups: Path, mongo_uri: str) -> None:
    done = restore(mongo_uri, str(backups), *arguments)
    assert done.returncode != 0
    assert expected in done.stderr
    assert "Traceback" not in done.stderr


def test_latest_is_one_time_order_and_ignores_a_clock_that_ran_ahead(
    source: str, mongo_client: pymongo.MongoClient, mongo_uri: str, mongo_tools: dict[str, Path], backups: Path
) -> None:
    """A vaultui archive of 40 days ago, yesterday's old-pipeline archive, and one stamped in 2099: --latest
    takes yesterday's, says why it skipped the 2099 one, and retention does not protect the 2099 one."""
    from engine.sla.retention import RetentionPolicy, make_plan

    made = backup(mongo_uri, str(backups), source)
    old_name = (datetime.now(UTC) - timedelta(days=40)).strftime("%Y%m%dT%H%M%SZ") + ".tar.zst"
    (backups / made).rename(backups / old_name)
    (backups / f"{made}.manifest.json").unlink()  # the renamed archive keeps no manifest: give it one anew
    future = "20990101T000000Z.tar.zst"
    (backups / future).write_bytes((backups / old_name).read_bytes())
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y%m%d")
    old_pipeline_archive(mongo_uri, source, mongo_tools["mongodump"], backups, yesterday)
    for name in (old_name, future):
        (backups / f"{name}.manifest.json").write_text("{}")  # present, so both count as complete
    target = f"{source}_timeorder"
    done = restore(
        mongo_uri, str(backups), "--latest", "--dry-run", "--ns-from", f"{source}.*", "--ns-to", f"{target}.*"
    )
    assert done.returncode == 0, done.stderr
    assert f"would restore {yesterday}.tar.gz" in done.stdout
    assert f"WARNING: {future} was skipped: stamped 2099-01-01 00:00 UTC, in the future" in done.stderr
    plan = make_plan(open_storage(str(backups)), RetentionPolicy(), datetime.now(UTC))
    reasons = {decision.name: decision.reason for decision in plan.decisions}
    assert not reasons[future].startswith("newest")
