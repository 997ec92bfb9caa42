"""Archives left by the old shell pipeline are listed as legacy and verify; damaged archives fail verify."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pymongo
import pytest

from tests.helpers import old_pipeline_archive, run_vaultui, seed
from vaultui.exit_codes import ExitCode


def test_old_pipeline_archives_are_listed_as_legacy_and_verify(
    mongo_client: pymongo.MongoClient,
    mongo_uri: str,
    mongo_tools: dict[str, Path],
    database_name: str,
    backups: Path,
) -> None:
    seed(mongo_client, database_name, {"orders": 700, "users": 30})
    old_pipeline_archive(mongo_uri, database_name, mongo_tools["mongodump"], backups, "20261101")
    old_pipeline_archive(mongo_uri, database_name, mongo_tools["mongodump"], backups, "20261102")
    env = {"VAULTUI_STORAGE": str(backups), "VAULTUI_MONGO_URI": mongo_uri}
    assert run_vaultui("--headless", "backup", "--db", database_name, env=env).returncode == 0

    listed = json.loads(run_vaultui("--headless", "list", "--json", env=env).stdout)
    assert [entry["status"] for entry in listed] == ["verified", "legacy", "legacy"]  # read back at backup
    assert [entry["name"] for entry in listed][1:] == ["20261102.tar.gz", "20261101.tar.gz"]
    assert listed[2]["time"] == "2026-11-01T00:00:00+00:00"

    checked = run_vaultui("--headless", "verify", "--all", "--json", env=env)
    assert checked.returncode == 0, checked.stdout
    reports = {report["archive"]: report for report in json.loads(checked.stdout)}
    legacy = reports["20261101.tar.gz"]
    assert legacy["ok"] and not legacy["checksum_checked"] and legacy["documents"] == 730

    # One state from the evidence, the same in list and the dashboard: a legacy archive that verified is verified.
    human = run_vaultui("--headless", "list", env=env).stdout
    assert [line.split()[-1] for line in human.splitlines()[1:]] == ["verified", "verified", "verified"]
    listed = json.loads(run_vaultui("--headless", "list", "--json", env=env).stdout)
    assert [(entry["status"], entry["legacy"]) for entry in listed][1:] == [("verified", True), ("verified", True)]


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_mongodump_s_own_files_are_read_not_warned_about(
    gzip: bool,
    mongo_client: pymongo.MongoClient,
    mongo_uri: str,
    mongo_tools: dict[str, Path],
    database_name: str,
    backups: Path,
) -> None:
    """The real mongodump 100.x (as the old CronJob ran it, with --db, and with --gzip) writes its prelude.json
    (`.gz`) beside the collections: verify reads the versions from it, list and the dashboard's detail show them
    once verified, and a restore of the archive warns about nothing (no "not a .bson or .metadata.json")."""
    seed(mongo_client, database_name, {"orders": 120})
    work = backups.parent / "dump"
    subprocess.run(
        [str(mongo_tools["mongodump"]), f"--uri={mongo_uri}", f"--db={database_name}", f"--out={work / '20261105'}"]
        + (["--gzip"] if gzip else []),
        check=True,
        capture_output=True,
    )
    dumped = sorted(path.name for path in (work / "20261105" / database_name).iterdir())
    assert ("prelude.json.gz" if gzip else "prelude.json") in dumped, dumped  # the real tool's layout
    assert any(name.endswith(".bson.gz" if gzip else ".bson") for name in dumped), dumped
    subprocess.run(["tar", "czf", str(backups / "20261105.tar.gz"), "-C", str(work), "20261105"], check=True)
    env = {"VAULTUI_STORAGE": str(backups), "VAULTUI_TARGET_URI": mongo_uri}

    checked = run_vaultui("--headless", "verify", "20261105.tar.gz", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    made_by = next(line.strip() for line in checked.stdout.splitlines() if "dumped from MongoDB" in line)
    assert " by mongodump 100." in made_by, checked.stdout
    [listed] = json.loads(run_vaultui("--headless", "list", "--json", env=env).stdout)
    assert listed["made_by"] == made_by and listed["status"] == "verified"

    restored = run_vaultui(
        "--headless", "restore", "--archive", "20261105.tar.gz", "--ns-from", f"{database_name}.*",
        "--ns-to", f"{database_name}_back.*", env=env,
    )  # fmt: skip
    assert restored.returncode == 0, restored.stderr
    assert "WARNING" not in restored.stderr and "prelude" not in restored.stderr + restored.stdout, restored.stderr
    assert mongo_client[f"{database_name}_back"]["orders"].count_documents({}) == 120
    mongo_client.drop_database(f"{database_name}_back")


def damage(archive: Path, how: str) -> None:
    data = bytearray(archive.read_bytes())
    if how == "flip":
        data[len(data) // 2] ^= 0xFF
    else:
        data = data[: len(data) * 2 // 3]
    archive.write_bytes(bytes(data))


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
@pytest.mark.parametrize("how", ["flip", "truncate"])
def test_damaged_archives_fail_verify(
    how: str, codec: str, mongo_client: pymongo.MongoClient, mongo_uri: str, database_name: str, backups: Path
) -> None:
    seed(mongo_client, database_name, {"orders": 2000})
    env = {"VAULTUI_STORAGE": str(backups), "VAULTUI_MONGO_URI": mongo_uri}
    assert run_vaultui("--headless", "backup", "--db", database_name, "--codec", codec, env=env).returncode == 0
    [archive] = [path for path in backups.glob("*.tar.*") if not path.name.endswith(".json")]
    damage(archive, how)
    checked = run_vaultui("--headless", "verify", archive.name, env=env)
    assert checked.returncode == ExitCode.VERIFICATION_FAILED
    assert f"{archive.name}: FAILED" in checked.stdout
    assert "Traceback" not in checked.stderr


def test_damaged_legacy_archive_fails_structurally(
    mongo_client: pymongo.MongoClient,
    mongo_uri: str,
    mongo_tools: dict[str, Path],
    database_name: str,
    backups: Path,
) -> None:
    seed(mongo_client, database_name, {"orders": 2000})
    archive = old_pipeline_archive(mongo_uri, database_name, mongo_tools["mongodump"], backups, "20261103")
    damage(archive, "truncate")
    checked = run_vaultui("--headless", "verify", archive.name, env={"VAULTUI_STORAGE": str(backups)})
    assert checked.returncode == ExitCode.VERIFICATION_FAILED
    assert "truncated or corrupt" in checked.stdout


def test_archive_without_manifest_is_incomplete_and_unknown_names_are_refused(backups: Path) -> None:
    (backups / "20261105T000000Z.tar.gz").write_bytes(b"half an upload")
    (backups / "notes.txt").write_text("not an archive")
    env = {"VAULTUI_STORAGE": str(backups)}
    [entry] = json.loads(run_vaultui("--headless", "list", "--json", env=env).stdout)
    assert (entry["name"], entry["status"]) == ("20261105T000000Z.tar.gz", "incomplete")
    missing = run_vaultui("--headless", "verify", "20261106T000000Z.tar.gz", env=env)
    assert missing.returncode == ExitCode.STORAGE and "not found" in missing.stderr
    bad = run_vaultui("--headless", "verify", "notes.txt", env=env)
    assert bad.returncode == ExitCode.STORAGE and "is not an archive name" in bad.stderr
