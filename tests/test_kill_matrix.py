"""The kill matrix: backup, restore (drop and guarded) and purge are killed with SIGKILL at points spread over
their whole run (engine.common.faults: every progress event and every step boundary is a point), and after each kill
the state must be safe and the next run must finish the job:
- a restore's target is untouched or fully restored, or carries the marker that makes the next if-empty
  restore redo it; after that rerun it is fully restored (or, untouched, still exactly the old data);
- no archive looks complete that does not verify; the newest good archive still exists;
- the next run cleans up (no staging collections, no unfinished archive writes, no lease in the way).
The points exercised are printed at the end of the session."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime
from pathlib import Path

import pymongo
import pytest

from engine.archive.catalog import list_archives
from engine.evidence.verify import verify_archive
from engine.storage import open_storage
from tests.helpers import EXERCISED, files_tar_gz, raw_documents, run_vaultui, seed
from tests.test_restore_guarantees import leftovers

SAMPLES = 12  # kill points per scenario, spread evenly over every point the run passes


def points(arguments: list[str], env: dict[str, str], tmp_path: Path) -> list[str]:
    """Runs once, recording every kill point passed, in order."""
    log = tmp_path / f"points-{len(list(tmp_path.iterdir()))}.txt"
    done = run_vaultui(*arguments, env={**env, "VAULTUI_TEST_POINTS_FILE": str(log)})
    assert done.returncode == 0, done.stderr
    return log.read_text().splitlines()


def spread(count: int) -> list[int]:
    """Up to SAMPLES kill points (1-based) from first to last."""
    if count <= SAMPLES:
        return list(range(1, count + 1))
    return sorted({1 + round(index * (count - 1) / (SAMPLES - 1)) for index in range(SAMPLES)})


def killed(arguments: list[str], env: dict[str, str], at: int) -> None:
    done = run_vaultui(*arguments, env={**env, "VAULTUI_TEST_KILL_AT": str(at)})
    assert done.returncode == -signal.SIGKILL, f"not killed at point {at}: {done.returncode} {done.stderr[-800:]}"


def contents(client: pymongo.MongoClient, database: str) -> dict[str, list[bytes]]:
    return {
        name: sorted(raw_documents(client[database][name]))
        for name in client[database].list_collection_names()
        if not name.startswith("__vaultui")
    }


def complete_archives_verify(storage_url: str) -> list[str]:
    storage = open_storage(storage_url)
    return [
        entry.name
        for entry in list_archives(storage)
        if entry.status == "complete" and not verify_archive(storage, entry).ok
    ]


@pytest.fixture
def source(mongo_client: pymongo.MongoClient, database_name: str) -> str:
    seed(mongo_client, database_name, {"orders": 2500, "users": 30, "empty": 0})
    mongo_client[database_name]["users"].create_index("name", name="by_name")
    return database_name


@pytest.mark.parametrize("mode", ["--drop", "guarded"])
def test_restores_killed_anywhere(
    mode: str, source: str, mongo_client: pymongo.MongoClient, mongo_uri: str, tmp_path: Path
) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    env = {"VAULTUI_MONGO_URI": mongo_uri, "VAULTUI_TARGET_URI": mongo_uri, "VAULTUI_STORAGE": str(backups)}
    assert run_vaultui("--headless", "backup", "--db", source, env=env).returncode == 0
    archive = contents(mongo_client, source)
    target = f"{source}_target"
    old = {"orders": [{"_id": "live", "n": 1}], "users": [{"_id": "someone"}]}

    def reset_target() -> None:
        mongo_client.drop_database(target)
        if mode == "--drop":  # a live database the restore replaces; guarded restores go into an empty one
            for name, documents in old.items():
                mongo_client[target][name].insert_many(documents)

    arguments = ["--headless", "restore", "--latest", "--ns-from", f"{source}.*", "--ns-to", f"{target}.*"]
    arguments += [mode] if mode == "--drop" else []
    reset_target()
    before = contents(mongo_client, target)
    passed = points(arguments, env, tmp_path)
    assert contents(mongo_client, target) == archive
    chosen = spread(len(passed))
    for at in chosen:
        reset_target()
        killed(arguments, env, at)
        now = contents(mongo_client, target)
        marked = [marker for marker in mongo_client.admin.vaultui_restore.find({}) if marker["state"] != "staging"]
        assert now in (before, archive) or marked, f"killed at {passed[at - 1]}: a partial target and no marker"
        # What the restore-at-start sidecar runs next.
        redo = run_vaultui(*arguments[:3], "--if-empty", *arguments[3:7], env=env)
        assert redo.returncode == 0, redo.stderr
        after = contents(mongo_client, target)
        assert after == archive or (after == before and not marked and before), f"after a kill at {passed[at - 1]}"
        assert leftovers(mongo_client) == [], f"after a kill at {passed[at - 1]}"
    EXERCISED.append(
        f"restore {mode}: SIGKILL at {len(chosen)} of {len(passed)} points ({', '.join(sorted(set(passed)))})"
    )


def test_backups_killed_anywhere(
    source: str, mongo_client: pymongo.MongoClient, mongo_uri: str, tmp_path: Path
) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    env = {"VAULTUI_MONGO_URI": mongo_uri, "VAULTUI_STORAGE": str(backups)}
    arguments = ["--headless", "backup", "--db", source]
    passed = points(arguments, env, tmp_path)
    first_good = [entry.name for entry in list_archives(open_storage(str(backups)))]
    chosen = spread(len(passed))
    for at in chosen:
        started = datetime.now(UTC)
        killed(arguments, env, at)
        assert complete_archives_verify(str(backups)) == [], f"killed at {passed[at - 1]}"
        names = [entry.name for entry in list_archives(open_storage(str(backups)))]
        assert set(first_good) <= set(names)
        done = run_vaultui(*arguments, env=env)  # the next night: takes the dead run's lease, sweeps its leftovers
        assert done.returncode == 0, f"after a kill at {passed[at - 1]}: {done.stderr}"
        storage = open_storage(str(backups))
        assert [item.key for item in storage.unfinished_writes(started)] == []
        assert [entry.name for entry in list_archives(storage) if entry.status == "incomplete"] == []
    assert complete_archives_verify(str(backups)) == []
    EXERCISED.append(f"backup: SIGKILL at {len(chosen)} of {len(passed)} points ({', '.join(sorted(set(passed)))})")


def test_purges_killed_anywhere(source: str, mongo_uri: str, tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    env = {"VAULTUI_MONGO_URI": mongo_uri, "VAULTUI_STORAGE": str(backups)}
    assert run_vaultui("--headless", "backup", "--db", source, env=env).returncode == 0
    newest = {entry.name for entry in list_archives(open_storage(str(backups)))}
    days = [f"202601{day:02d}" for day in range(1, 7)]

    def old_pipeline_archives() -> None:  # past the 90 days: what the purge deletes
        for day in days:
            path = backups / f"{day}.tar.gz"
            path.write_bytes(files_tar_gz({f"{day}/shop/orders.bson": b""}))
            os.utime(path, (0, 0))

    arguments = ["--headless", "purge", "--keep-last", "1"]
    old_pipeline_archives()
    passed = points(arguments, env, tmp_path)
    chosen = spread(len(passed))
    for at in chosen:
        old_pipeline_archives()
        killed(arguments, env, at)
        names = {entry.name for entry in list_archives(open_storage(str(backups)))}
        assert newest <= names, f"killed at {passed[at - 1]}: the newest good archive went"
        assert complete_archives_verify(str(backups)) == []
        done = run_vaultui(*arguments, env=env)
        assert done.returncode == 0, f"after a kill at {passed[at - 1]}: {done.stderr}"
        assert {entry.name for entry in list_archives(open_storage(str(backups)))} == newest
    EXERCISED.append(f"purge: SIGKILL at {len(chosen)} of {len(passed)} points ({', '.join(sorted(set(passed)))})")
