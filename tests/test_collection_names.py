"""Odd-but-legal collection names on the real bed: the backup that reported success and could not restore
(a `/` in a name), file names byte-for-byte those of the real mongodump, archives of vaultui 0.1 (raw
names) still readable, and files that map to no namespace refused in vaultui archives."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pymongo
import pytest

from engine.archive.catalog import find_archive
from engine.evidence.verify import verify_archive
from engine.storage import open_storage
from tests.helpers import files_tar_gz, raw_documents, run_vaultui, tar_gz
from vaultui.exit_codes import ExitCode

NAMES = ["reports/2026:q4", "cafés", "a b+c", "50% off", "x" * 90 + "é" * 60]


@pytest.fixture
def odd(mongo_client: pymongo.MongoClient, database_name: str) -> str:
    for index, name in enumerate(NAMES):
        mongo_client[database_name][name].insert_many([{"_id": number, "n": index} for number in range(5)])
    return database_name


def backup(uri: str, folder: Path, database: str, *extra: str, tools: Path | None = None) -> str:
    env = {"VAULTUI_MONGO_URI": uri, "VAULTUI_STORAGE": str(folder)}
    if tools is not None:
        env["VAULTUI_MONGO_TOOLS"] = str(tools)
    done = run_vaultui("--headless", "backup", "--db", database, *extra, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stderr.splitlines()[-1])["archive"]


@pytest.mark.parametrize("dumper", ["native", "mongodump"])
def test_odd_names_back_up_and_restore_latest(
    odd: str,
    mongo_client: pymongo.MongoClient,
    mongo_uri: str,
    mongo_tools: dict[str, Path],
    tmp_path: Path,
    dumper: str,
) -> None:
    backup(mongo_uri, tmp_path, odd, "--dumper", dumper, tools=mongo_tools["mongodump"].parent)
    target = f"{odd}_back"
    done = run_vaultui(
        "--headless",
        "restore",
        "--latest",
        "--ns-from",
        f"{odd}.*",
        "--ns-to",
        f"{target}.*",
        env={"VAULTUI_STORAGE": str(tmp_path), "VAULTUI_TARGET_URI": mongo_uri},
    )
    assert done.returncode == 0, done.stderr
    assert sorted(mongo_client[target].list_collection_names()) == sorted(NAMES)
    for name in NAMES:
        assert raw_documents(mongo_client[target][name]) == raw_documents(mongo_client[odd][name])


def test_file_names_are_those_of_the_real_mongodump(
    odd: str, mongo_uri: str, mongo_tools: dict[str, Path], tmp_path: Path
) -> None:
    name = backup(mongo_uri, tmp_path, odd, "--codec", "gzip")
    with tarfile.open(tmp_path / name) as tar:
        ours = sorted(member.split("/", 1)[1] for member in tar.getnames())
    subprocess.run(
        [str(mongo_tools["mongodump"]), f"--uri={mongo_uri}", f"--db={odd}", f"--out={tmp_path / 'real'}"],
        check=True,
        capture_output=True,
    )
    real = sorted(
        str(path.relative_to(tmp_path / "real"))
        for path in (tmp_path / "real").rglob("*")
        if path.is_file() and path.name != "prelude.json"
    )
    assert ours == real  # mongodump's prelude.json (its own version facts) aside: vaultui has the manifest


def vaultui_0_1_archive(folder: Path, stamp: str, collection: str, metadata: bytes) -> tuple[Path, bytes]:
    """An archive as vaultui 0.1 wrote it (manifest format 1): the collection's raw name in the member paths."""
    import bson

    document = bson.encode({"_id": 1})
    archive = folder / f"{stamp}.tar.gz"
    archive.write_bytes(
        files_tar_gz(
            {f"{stamp}/shop/{collection}.metadata.json": metadata, f"{stamp}/shop/{collection}.bson": document}
        )
    )
    entry = {"database": "shop", "collection": collection, "documents": 1, "bson_bytes": len(document)}
    manifest_for(archive, [entry], 1)
    return archive, document


def manifest_for(archive: Path, collections: list[dict], format_version: int) -> None:
    import hashlib

    data = archive.read_bytes()
    stamp = archive.name.split(".")[0]
    manifest = {
        "archive": archive.name,
        "stamp": stamp,
        "codec": "gzip",
        "archive_bytes": len(data),
        "archive_sha256": hashlib.sha256(data).hexdigest(),
        "started_at": "2026-10-01T00:00:00+00:00",
        "finished_at": "2026-10-01T00:01:00+00:00",
        "duration_seconds": 60.0,
        "server_version": "7.0.14",
        "dumper": "native",
        "tool_version": "vaultui 0.1.0",
        "collections": collections,
        "format": format_version,
    }
    archive.with_name(archive.name + ".manifest.json").write_text(json.dumps(manifest))


def test_archives_of_vaultui_0_1_with_raw_names_still_read(tmp_path: Path) -> None:
    """Format 1 wrote raw names: `50%` stays `50%`, where mongodump's escaping would call it malformed."""
    archive, _ = vaultui_0_1_archive(tmp_path, "20261001T000000Z", "50%", b'{"options":{},"indexes":[]}')
    storage = open_storage(str(tmp_path))
    report = verify_archive(storage, find_archive(storage, archive.name))
    assert report.ok, report.problems
    assert list(report.collections) == ["shop.50%"]


def test_a_file_outside_the_layout_fails_verify_of_a_vaultui_archive(tmp_path: Path) -> None:
    """What vaultui 0.1 wrote for `reports/2026:q4`: a sub-folder. It maps to no namespace: an error now, where it
    used to be skipped silently (and the manifest's namespace reported missing only at restore)."""
    archive, _ = vaultui_0_1_archive(tmp_path, "20261002T000000Z", "reports/2026:q4", b"{}")
    done = run_vaultui("--headless", "verify", archive.name, env={"VAULTUI_STORAGE": str(tmp_path)})
    assert done.returncode == ExitCode.VERIFICATION_FAILED
    assert "maps to no namespace: a collection file inside a sub-folder" in done.stdout
    assert "shop.reports/2026:q4 is missing from the archive" in done.stdout


def test_duplicate_members_are_refused(tmp_path: Path) -> None:
    import bson

    document = bson.encode({"_id": 1})
    member = tarfile.TarInfo("20261003/shop/orders.bson")
    (tmp_path / "20261003.tar.gz").write_bytes(tar_gz([(member, document), (member, document)]))
    storage = open_storage(str(tmp_path))
    report = verify_archive(storage, find_archive(storage, "20261003.tar.gz"))
    assert not report.ok and "twice" in report.problems[0]
